"""kopf registrations: thin glue around reconcile.py."""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any

import kopf

from . import metrics
from .api import GROUP, PLURAL, VERSION
from .reconcile import reconcile

TICK_SECONDS = float(os.environ.get("VIDEOJOB_TICK_SECONDS", "2"))
_phases: dict[str, str] = {}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    # Watches are re-established before a proxy or load balancer cuts them.
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.INFO
    settings.persistence.finalizer = f"{GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.execution.max_workers = int(os.environ.get("VIDEOJOB_MAX_WORKERS", "8"))
    port = int(os.environ.get("VIDEOJOB_METRICS_PORT", "8000"))
    if port:
        metrics.serve(port, addr=os.environ.get("VIDEOJOB_METRICS_ADDR", "0.0.0.0"))
        logger.info("metrics on port %d", port)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=False)
def tick(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    reconcile(body, patch)
    key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    _phases[key] = (patch.get("status") or {}).get("phase") or (body.get("status") or {}).get("phase") or "Pending"
    metrics.set_phase_counts(Counter(_phases.values()))


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def forget(body: kopf.Body, **_: Any) -> None:
    # Children go with their owner through the garbage collector; only our own bookkeeping is left.
    meta = body["metadata"]
    _phases.pop(f"{meta['namespace']}/{meta['name']}", None)
    metrics.forget(meta["namespace"], meta["name"])
    metrics.set_phase_counts(Counter(_phases.values()))


@kopf.on.probe(id="videojobs")
def known_jobs(**_: Any) -> int:
    return len(_phases)
