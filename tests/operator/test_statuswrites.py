"""Status writes held back while only a VideoJob's counts move (operator/statuswrites.py): anything a user or a
script waits on (phase, conditions, failures, an Event) is written at once, counts at most once per interval."""

from __future__ import annotations

import time
from typing import Any

import pytest
from videojob.operator.statuswrites import StatusWrites, counts_only


def status(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phase": "Processing",
        "conditions": [{"type": "Ready", "status": "False", "reason": "Processing"}],
        "segments": {"total": 10, "succeeded": 2, "failed": 0, "active": 2, "retries": 0},
        "frames": {"total": 100, "done": 20},
        "progress": 23,
        "message": "2/10 segments done, 2 running",
    }
    for path, value in changes.items():
        parent = base
        *parents, last = path.split("__")
        for key in parents:
            parent = parent[key]
        parent[last] = value
    return base


@pytest.mark.parametrize(
    "change",
    [
        {"segments__succeeded": 3},
        {"segments__active": 1},
        {"frames__done": 30},
        {"progress": 31},
        {"message": "3/10 segments done, 1 running"},
    ],
)
def test_counts_are_counts(change: dict[str, Any]) -> None:
    assert counts_only(status(), status(**change))


@pytest.mark.parametrize(
    "change",
    [
        {"phase": "Finalizing"},
        {"conditions": []},
        {"segments__failed": 1},
        {"segments__retries": 1},
        {"segments__total": 11},
        {"frames__total": 101},
        {"stageSeconds": {"process": 3.0}},
    ],
)
def test_everything_else_is_written_at_once(change: dict[str, Any]) -> None:
    assert not counts_only(status(), status(**change))
    writes = StatusWrites(interval=5.0)
    writes.written("uid")
    assert writes.hold_for("uid", status(), status(**change), has_events=False) == 0.0
    assert writes.held("uid") is None


def test_counts_are_held_for_the_rest_of_the_interval_and_then_written(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = StatusWrites(interval=5.0)
    first = status(**{"segments__succeeded": 3})
    assert writes.hold_for("uid", status(), first, has_events=False) == 0.0  # nothing written yet: at once
    writes.written("uid")
    later = status(**{"segments__succeeded": 4})
    wait = writes.hold_for("uid", first, later, has_events=False)
    assert 4.0 < wait <= 5.0
    assert writes.held("uid") == later  # the next round starts from it, not from the stored status
    # With an Event to post, the status that goes with it is written at once.
    assert writes.hold_for("uid", first, later, has_events=True) == 0.0
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 5.1)
    assert writes.hold_for("uid", first, later, has_events=False) == 0.0  # the interval has passed
    writes.written("uid")
    assert writes.held("uid") is None


def test_interval_zero_writes_every_change() -> None:
    writes = StatusWrites(interval=0.0)
    writes.written("uid")
    assert writes.hold_for("uid", status(), status(progress=40), has_events=False) == 0.0


def test_a_round_that_changes_nothing_drops_what_was_held() -> None:
    writes = StatusWrites(interval=5.0)
    writes.written("uid")
    assert writes.hold_for("uid", status(), status(progress=40), has_events=False) > 0
    writes.unchanged("uid")
    assert writes.held("uid") is None
