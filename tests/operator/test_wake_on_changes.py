"""A VideoJob's own watch events wake its loop only when they show more than the echo of the operator's own
status write (operator/handlers/videojob.py `_changed_by_others`): every write used to cost a second round."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from videojob.operator.handlers import videojob as handlers

UID = "uid-wake-test"


def event(generation: int, status: dict[str, Any], deleting: bool = False) -> kopf.Body:
    meta: dict[str, Any] = {"name": "a", "namespace": "ns", "uid": UID, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T10:00:00Z"
    return kopf.Body({"metadata": meta, "spec": {}, "status": status})


@pytest.fixture(autouse=True)
def forget() -> Any:
    yield
    handlers._forget(UID)


def test_only_what_others_changed_wakes_the_loop() -> None:
    ours = {"phase": "Processing", "segments": {"total": 4, "succeeded": 1}}
    assert handlers._changed_by_others(UID, event(1, {}))  # first sight (also after a restart)
    handlers._written[UID] = ours
    assert not handlers._changed_by_others(UID, event(1, ours))  # the echo of our own write
    assert not handlers._changed_by_others(UID, event(1, {**ours, "kopf": {"progress": {}}}))  # kopf's own field
    assert handlers._changed_by_others(UID, event(2, ours))  # the spec changed (suspend, maxParallelPods)
    assert not handlers._changed_by_others(UID, event(2, ours))
    assert handlers._changed_by_others(UID, event(2, {"phase": "Failed"}))  # a status we did not write
    assert handlers._changed_by_others(UID, event(2, ours, deleting=True))
