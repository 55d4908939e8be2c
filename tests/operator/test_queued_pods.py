"""Pods that cannot start: one queued behind its own job's pods (more parallel pods than GPUs) is not stuck, and
its wait counts from the last sibling's end; a pod that no sibling's end can help still fails after
pendingSeconds (no cluster: the stage's pods are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from videojob.operator.builders import context_from_body
from videojob.operator.controller import Controller
from videojob.operator.settings import OperatorSettings
from videojob.operator.status import VideoJobStatus
from videojob.operator.step import Step

NOW = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)
NO_ROOM = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, created: datetime, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": iso(created)},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "worker"}]},
        "status": status,
    }


def unschedulable(name: str, created: datetime, message: str = NO_ROOM) -> dict[str, Any]:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    return pod(name, created, phase="Pending", conditions=[cond])


def running(name: str, created: datetime) -> dict[str, Any]:
    return pod(name, created, phase="Running", containerStatuses=[{"name": "worker", "state": {"running": {}}}])


def ended(name: str, created: datetime, finished: datetime) -> dict[str, Any]:
    term = {"exitCode": 0, "finishedAt": iso(finished)}
    return pod(name, created, phase="Succeeded", containerStatuses=[{"name": "worker", "state": {"terminated": term}}])


class Deletes:
    """The one call a failing stage makes: its Job deleted."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_job(self, namespace: str, name: str) -> bool:
        self.deleted.append(name)
        return True


def check(pods: list[dict[str, Any]]) -> Step:
    body = {
        "metadata": {"name": "big", "namespace": "team-a", "uid": "u1", "generation": 1},
        "spec": {
            "input": {"claimName": "media", "path": "in/clip.mp4"},
            "output": {"path": "out/clip.mp4"},
            "deadlines": {"pendingSeconds": 600},
        },
    }
    ctx = context_from_body(body, default_image="img:1")
    step = Step(status=VideoJobStatus(phase="Processing"), now=NOW, generation=1)
    kube = Deletes()
    Controller(kube, OperatorSettings("img:1", None, 5.0, 300.0, 0, None))._check_started(ctx, step, "segments", pods)  # type: ignore[arg-type]
    assert kube.deleted == (["big-segments"] if step.status.phase == "Failed" else [])
    return step


def started(step: Step) -> Any:
    return next((c for c in step.status.conditions if c.type == "PodsStarted"), None)


def test_a_pod_queued_behind_a_running_sibling_is_not_stuck_however_long_it_waited() -> None:
    step = check(
        [
            running("big-segments-0-a", NOW - timedelta(hours=2)),
            unschedulable("big-segments-9-b", NOW - timedelta(hours=2)),
        ]
    )
    assert step.status.phase == "Processing" and started(step) is None and step.events == []


def test_its_wait_counts_from_the_last_siblings_end() -> None:
    old = NOW - timedelta(hours=2)
    # A sibling ended 30 s ago: the scheduler is about to place the queued pod.
    step = check([ended("big-segments-0-a", old, NOW - timedelta(seconds=30)), unschedulable("big-segments-9-b", old)])
    assert step.status.phase == "Processing" and started(step) is None
    # Ended 5 minutes ago and nothing took its room: named at once, not failed yet (300 s < 600 s) ...
    step = check([ended("big-segments-0-a", old, NOW - timedelta(minutes=5)), unschedulable("big-segments-9-b", old)])
    assert step.status.phase == "Processing" and started(step).status == "False"
    assert [e[1] for e in step.events] == ["Unschedulable"]
    # ... and failed once that is longer than pendingSeconds.
    step = check([ended("big-segments-0-a", old, NOW - timedelta(minutes=11)), unschedulable("big-segments-9-b", old)])
    assert step.status.phase == "Failed" and "pendingSeconds 600s" in (step.status.message or "")


def test_a_pod_that_no_sibling_can_help_fails_after_the_deadline() -> None:
    old = NOW - timedelta(minutes=11)
    step = check([unschedulable("big-segments-0-a", old), unschedulable("big-segments-1-b", old)])
    assert step.status.phase == "Failed" and "pendingSeconds 600s" in (step.status.message or "")
    # An image that cannot be pulled is not helped by a running sibling either.
    waiting = {"name": "worker", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}
    bad = pod("big-segments-1-b", old, phase="Pending", containerStatuses=[waiting])
    step = check([running("big-segments-0-a", old), bad])
    assert step.status.phase == "Failed" and "big-segments-1-b cannot start: not found" in (step.status.message or "")
    assert started(step).reason == "ErrImagePull"
