"""Reading children's state: Job index lists, termination messages, disruptions, conditions."""

from __future__ import annotations

from typing import Any

from videojob.operator.conditions import set_condition
from videojob.operator.observe import job_state, parse_indexes, pod_outcome, succeeded


def test_parse_indexes() -> None:
    assert parse_indexes("1,3-5,7") == {1, 3, 4, 5, 7}
    assert parse_indexes("0") == {0}
    assert parse_indexes("") == set() and parse_indexes(None) == set()
    assert parse_indexes("0-2,10-11") == {0, 1, 2, 10, 11}


def pod(phase: str, message: str = "", exit_code: int | None = None, **extra: Any) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": message, "startedAt": "2026-01-01T00:00:05Z"}
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z", **extra.pop("meta", {})},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": "worker", "state": {"terminated": terminated} if exit_code is not None else {"running": {}}}
            ],
            **extra,
        },
    }


def test_successful_pod_summary() -> None:
    out = pod_outcome(pod("Succeeded", '{"segments": 3, "frames": 48}\n', 0))
    assert out.phase == "Succeeded" and out.message == {"segments": 3, "frames": 48}
    assert (out.started - out.created).total_seconds() == 5


def _ended(phase: str, exit_code: int | None, restart: str = "Never", **extra: Any) -> dict[str, Any]:
    raw = pod(phase, '{"segments": 3, "frames": 48}', exit_code, **extra)
    raw["spec"] = {"restartPolicy": restart, "containers": [{"name": "worker"}]}
    return raw


def test_a_container_that_exited_0_is_a_success_before_kubelet_sets_the_phase() -> None:
    """Kubelet reports the exit at once and the phase after tearing the pod down: the stage ends on the exit."""
    early = _ended("Running", 0)
    assert succeeded(early)
    out = pod_outcome(early)
    assert out.phase == "Succeeded" and out.message == {"segments": 3, "frames": 48}
    assert succeeded(_ended("Succeeded", 0))
    # Not yet, or never: still running, a failed exit, a container that restarts, a pod being stopped, a second
    # container still running.
    assert not succeeded(_ended("Running", None))
    assert not succeeded(_ended("Running", 1))
    assert not succeeded(_ended("Running", 0, restart="Always"))
    stopping = _ended("Running", 0, meta={"deletionTimestamp": "2026-01-01T00:00:09Z"})
    assert not succeeded(stopping) and pod_outcome(stopping).phase == "Terminating"
    two = _ended("Running", 0)
    two["spec"]["containers"].append({"name": "sidecar"})
    assert not succeeded(two)
    assert pod_outcome(_ended("Running", 1)).phase == "Running"


def test_bad_input_failure_carries_the_workers_line() -> None:
    out = pod_outcome(pod("Failed", '{"error": "input is not a video", "kind": "bad-input"}', 2))
    assert out.bad_input and out.error == "input is not a video" and not out.disrupted


def test_failure_without_json_uses_the_log_tail() -> None:
    out = pod_outcome(pod("Failed", "Traceback...\nMemoryError: out of memory\n", 137))
    assert out.message is None and out.error == "MemoryError: out of memory" and not out.bad_input
    assert pod_outcome(pod("Failed", "", 1)).error == "exit code 1"


def test_disruption_is_recognised() -> None:
    out = pod_outcome(pod("Failed", "", 137, conditions=[{"type": "DisruptionTarget", "status": "True"}]))
    assert out.disrupted
    assert pod_outcome(pod("Failed", "", 0, reason="Evicted")).disrupted


def test_terminating_pod_is_not_running() -> None:
    assert pod_outcome(pod("Running", meta={"deletionTimestamp": "2026-01-01T00:01:00Z"})).phase == "Terminating"


def test_job_state() -> None:
    job = {
        "spec": {"suspend": True},
        "status": {
            "completedIndexes": "0-2,4",
            "failedIndexes": "3",
            "active": 1,
            "failed": 4,
            "conditions": [{"type": "FailureTarget", "status": "True", "reason": "MaxFailedIndexesExceeded"}],
        },
    }
    js = job_state(job)
    assert js.completed == {0, 1, 2, 4} and js.failed == {3} and js.active == 1 and js.failed_pods == 4
    assert js.suspended and not js.complete and js.failure == "MaxFailedIndexesExceeded"
    done = job_state({"spec": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    assert done.complete and done.failure is None and not done.suspended


def test_condition_transition_time_moves_only_on_change() -> None:
    c = set_condition([], "Ready", False, "Detecting", "", 1, "2026-01-01T00:00:00Z")
    c = set_condition(c, "Ready", False, "Processing", "x", 1, "2026-01-01T00:01:00Z")
    assert len(c) == 1 and c[0].reason == "Processing" and c[0].last_transition_time == "2026-01-01T00:00:00Z"
    c = set_condition(c, "Ready", True, "Succeeded", "", 2, "2026-01-01T00:02:00Z")
    assert c[0].status == "True" and c[0].last_transition_time == "2026-01-01T00:02:00Z"
    assert c[0].observed_generation == 2
