"""Which segment pods count as stalled: pure, over pod dicts as the API returns them and progress as Redis holds it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from videojob.operator.observe import completion_index
from videojob.operator.progress import Progress, SegmentProgress
from videojob.operator.stalls import Stall, stalled_pods

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def seg_pod(index: int, name: str, started: float | None, phase: str = "Running", **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if started is not None:
        status["startTime"] = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
            **meta,
        },
        "status": status,
    }


def beats(**ts: float) -> Progress:
    return Progress({int(k[1:]): SegmentProgress(frames=5, total=10, ts=v) for k, v in ts.items()})


def test_completion_index() -> None:
    assert completion_index(seg_pod(7, "a", T0)) == 7
    assert completion_index({"metadata": {"name": "detect"}}) is None
    assert completion_index({"metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": "x"}}}) is None


def test_a_running_pod_with_an_old_heartbeat_of_its_own_is_stalled() -> None:
    live = beats(i0=T0 + 10, i1=T0 + 100, i2=T0 + 10)
    pods = [seg_pod(0, "s-0", T0), seg_pod(1, "s-1", T0), seg_pod(2, "s-2", T0)]
    now = T0 + 110
    # 0 and 2 silent for 100 s; 1 beat 10 s ago; 2 finished already (not active).
    assert stalled_pods(pods, live, now, 60, active_indexes={0, 1}) == [Stall(0, "s-0", "uid-s-0", 100.0)]
    assert [s.index for s in stalled_pods(pods, live, now, 60, active_indexes={0, 1, 2})] == [0, 2]
    assert stalled_pods(pods, live, now, 200, active_indexes={0, 1, 2}) == []


def test_a_replacement_is_not_stalled_by_its_predecessors_heartbeat() -> None:
    live = beats(i0=T0 + 10)
    now = T0 + 200
    old = seg_pod(0, "s-0-old", T0, deletionTimestamp="2026-01-01T00:03:00Z")
    new = seg_pod(0, "s-0-new", T0 + 190)
    # The old pod is going away (Terminating), the new one started after the last heartbeat: nothing to delete.
    assert stalled_pods([old, new], live, now, 60, active_indexes={0}) == []
    # Once the new pod has reported and then gone silent itself, it is stalled like any other.
    assert stalled_pods([new], beats(i0=T0 + 195), T0 + 300, 60, {0}) == [Stall(0, "s-0-new", "uid-s-0-new", 105.0)]


def test_pending_finished_or_unreported_pods_are_never_stalled() -> None:
    now = T0 + 500
    pods = [
        seg_pod(0, "queued", None, phase="Pending"),
        seg_pod(1, "done", T0, phase="Succeeded"),
        seg_pod(2, "failed", T0, phase="Failed"),
        seg_pod(3, "silent-from-start", T0),  # no report at all yet: may be loading a model, not a hang
    ]
    live = beats(i0=T0, i1=T0, i2=T0)
    assert stalled_pods(pods, live, now, 60, active_indexes={0, 1, 2, 3}) == []
