"""The operator's kopf settings that the issue-12 D3 fix (no diff base on the object) depends on."""

from __future__ import annotations

import kopf


def test_no_handler_needs_the_diff_base_that_is_not_kept() -> None:
    """NoDiffBase keeps no copy of the spec (a big spec made every patch fail): right only while no handler asks
    what changed. An on.create/update/resume/field handler added later fails here, not on a big spec."""
    from videojob.operator import main

    handlers = kopf.get_default_registry()._changing.get_all_handlers()
    assert handlers and {h.reason for h in handlers} == {"delete"}, [(h.id, h.reason) for h in handlers]
    assert all(getattr(h, "field", None) is None for h in handlers)
    storage = main.NoDiffBase()
    body = kopf.Body({"metadata": {"name": "x"}, "spec": {"affinity": {"a": "b" * 300_000}}})
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert storage.fetch(body=body) is None and not patch
