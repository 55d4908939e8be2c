"""Pool mode of the segment Job: chosen by segmentation.mode (auto: many segments per parallel pod), built as an
Indexed Job of worker slots, and read by the controller (no cluster: the Job and its pods are given)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from videojob.operator.builders import build_segment_job, context_from_body, is_pool_job, segment_mode
from videojob.operator.controller import Controller
from videojob.operator.settings import OperatorSettings

UID = "6f1c2d3e-aaaa-bbbb-cccc-000000000001"


def body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "many", "namespace": "team-a", "uid": UID, "generation": 1},
        "spec": {"input": {"claimName": "media", "path": "in/clip.mp4"}, "output": {"path": "out/clip.mp4"}, **spec},
    }


def ctx_of(**spec: Any) -> Any:
    return context_from_body(body(**spec), default_image="img:1")


@pytest.mark.parametrize(
    ("mode", "segments", "parallel", "chosen"),
    [
        ("auto", 12, 2, "pool"),
        ("auto", 5, 2, "pool"),
        ("auto", 4, 2, "pod-per-segment"),  # 2 per pod: pool would save at most one start per slot
        ("auto", 3, 8, "pod-per-segment"),
        ("pool", 3, 8, "pool"),
        ("pod-per-segment", 1000, 2, "pod-per-segment"),
    ],
)
def test_mode(mode: str, segments: int, parallel: int, chosen: str) -> None:
    ctx = ctx_of(maxParallelPods=parallel, segmentation={"mode": mode})
    assert segment_mode(ctx, segments) == chosen
    assert is_pool_job(build_segment_job(ctx, segments)) == (chosen == "pool")


def test_pool_job_runs_p_workers_with_the_pod_per_segment_rules() -> None:
    ctx = ctx_of(maxParallelPods=3, retriesPerSegment=4)
    pool = build_segment_job(ctx, 40)
    per_segment = build_segment_job(
        ctx_of(maxParallelPods=3, retriesPerSegment=4, segmentation={"mode": "pod-per-segment"}), 40
    )
    spec = pool["spec"]
    assert (spec["completions"], spec["parallelism"], spec["completionMode"]) == (3, 3, "Indexed")
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "videojob.worker", "pool"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["VIDEOJOB_RETRIES_PER_SEGMENT"] == "4" and env["VIDEOJOB_POOL_SLOTS"] == "3"
    assert "fieldRef" in env["JOB_COMPLETION_INDEX"]  # the worker's slot
    assert env["VIDEOJOB_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}  # who holds a claim
    # Everything else as one pod per segment: failure policy, retries per index, TTL, labels, deadlines.
    for key in ("podFailurePolicy", "backoffLimitPerIndex", "maxFailedIndexes", "ttlSecondsAfterFinished", "suspend"):
        assert spec[key] == per_segment["spec"][key], key
    assert pool["metadata"] == per_segment["metadata"]
    theirs = per_segment["spec"]["template"]
    assert spec["template"]["metadata"] == theirs["metadata"]
    pod, other = spec["template"]["spec"], theirs["spec"]
    assert {k: v for k, v in pod.items() if k != "containers"} == {k: v for k, v in other.items() if k != "containers"}
    # Fewer segments than pods: one worker per segment.
    assert build_segment_job(ctx_of(maxParallelPods=8, segmentation={"mode": "pool"}), 3)["spec"]["completions"] == 3


COMPLETE = {"type": "Complete", "status": "True"}


class FakeKube:
    """The segment Job (pool mode, 2 slots) in a given state, and its pods."""

    def __init__(self, job_status: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        self.job = build_segment_job(ctx_of(maxParallelPods=2), 12)
        self.job["status"] = job_status
        self.pods = pods
        self.created: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.job if name.endswith("-segments") else None

    def job_seen(self, namespace: str, name: str) -> bool:
        return self.get_job(namespace, name) is not None

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.pods if selector.endswith("stage=segment") else []

    def create(self, manifest: dict[str, Any]) -> bool:
        self.created.append(manifest)
        return True

    def patch_job_spec(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        raise AssertionError(f"nothing to patch: {patch}")

    def delete_job(self, namespace: str, name: str) -> None:
        self.deleted.append(name)

    def __getattr__(self, name: str) -> Any:  # leases, secrets, cleanup on the end: not what these tests look at
        return lambda *a, **k: None


def pod(name: str, phase: str, exit_code: int, message: dict[str, Any], slot: int) -> dict[str, Any]:
    state = {
        "terminated": {"exitCode": exit_code, "message": json.dumps(message), "finishedAt": "2026-01-01T00:01:00Z"}
    }
    return {
        "metadata": {"name": name, "annotations": {"batch.kubernetes.io/job-completion-index": str(slot)}},
        "status": {"phase": phase, "containerStatuses": [{"name": "worker", "state": state}]},
    }


def reconcile(kube: FakeKube) -> Any:
    settings = OperatorSettings("img:1", None, 5.0, 300.0, 0, None)
    status = {
        "phase": "Processing",
        "stageStarts": {"detect": "2026-01-01T00:00:00Z", "process": "2026-01-01T00:00:10Z"},
        "segments": {"total": 12},
        "frames": {"total": 1200},
        "workdir": "/videojob/data/.videojob/x",
    }
    now = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    return Controller(kube, settings).reconcile(body(maxParallelPods=2), status, now=now)  # type: ignore[arg-type]


def test_running_pool_counts_workers_not_segments() -> None:
    step = reconcile(FakeKube({"active": 2, "ready": 2}, []))
    st = step.status
    assert st.phase == "Processing"
    assert (st.segments.succeeded, st.segments.active) == (0, 2)
    assert st.message == "0/12 segments done, 2 pool workers running"


def test_completed_pool_job_means_every_segment_done() -> None:
    timings = {"process": 1000.0, "stage": 1001.0, "model": 1001.5, "end": 1030.0}
    done = [pod(f"many-segments-{i}-x", "Succeeded", 0, {"segments": 6, "timings": timings}, i) for i in range(2)]
    kube = FakeKube({"succeeded": 2, "completedIndexes": "0,1", "conditions": [COMPLETE]}, done)
    st = reconcile(kube).status
    assert st.phase == "Finalizing"
    assert st.segments.succeeded == 12 and st.frames.done == 1200
    assert st.stage_seconds.process == 30.0
    assert any(m["metadata"]["name"].endswith("-finalize") for m in kube.created)


def test_failed_pool_job_names_the_segment_from_the_termination_message() -> None:
    bad = pod("many-segments-1-y", "Failed", 2, {"error": "segment 7: the input is damaged", "kind": "bad-input"}, 1)
    failed = {"type": "Failed", "status": "True", "reason": "FailedIndexes"}
    kube = FakeKube({"failed": 1, "failedIndexes": "1", "active": 1, "conditions": [failed]}, [bad])
    st = reconcile(kube).status
    assert st.phase == "Failed"
    assert st.message == "segment 7: the input is damaged"
    assert any(c.reason == "SegmentFailed" for c in st.conditions)
