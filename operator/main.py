"""Entry point for `kopf run -m videojob.operator.main`."""

from __future__ import annotations

from . import handlers  # noqa: F401  (registers the handlers)
