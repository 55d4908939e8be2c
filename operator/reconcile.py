"""The phase state machine. Every tick derives the next step from the children's state and the status, so an
operator restarted at any point carries on from where the cluster is (it never recreates a finished child)."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from . import children, metrics
from .api import VideoJobSpec
from .builders import LABEL_JOB, LABEL_STAGE, Paths, build_detect_pod, build_finalize_pod, build_segment_job
from .conditions import TERMINAL, now, phase_conditions
from .naming import child_name
from .termination import failure_reason, message_of, terminated_state

log = logging.getLogger("videojob.operator")


class Tick:
    """One reconcile pass over one VideoJob; writes go to kopf's patch, applied when the handler returns."""

    def __init__(self, body: kopf.Body, patch: kopf.Patch) -> None:
        self.body = body
        self.patch = patch
        self.meta = body["metadata"]
        self.namespace: str = self.meta["namespace"]
        self.name: str = self.meta["name"]
        self.uid: str = self.meta["uid"]
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self.generation = self.meta.get("generation")

    def set(self, key: str, value: Any) -> None:
        self.patch.status[key] = value
        self.status[key] = value

    def phase(self, phase: str, reason: str, message: str = "") -> None:
        old = self.status.get("phase")
        self.set("phase", phase)
        self.set("message", message)
        self.set("observedGeneration", self.generation)
        self.set("conditions", phase_conditions(self.status.get("conditions") or [], phase, reason, message,
                                                self.generation))
        if old != phase:
            kopf.event(self.body, type="Warning" if phase == "Failed" else "Normal", reason=reason,
                       message=message or f"phase {phase}")

    def fail(self, reason: str, message: str) -> None:
        self.phase("Failed", reason, message)
        self.set("completionTime", now())

    def stage_seconds(self, stage: str, seconds: float | None) -> None:
        if seconds is None:
            return
        values = dict(self.status.get("stageSeconds") or {})
        values[stage] = round(seconds, 3)
        self.set("stageSeconds", values)
        metrics.observe_stage(stage, seconds)


def reconcile(body: kopf.Body, patch: kopf.Patch) -> None:
    tick = Tick(body, patch)
    phase = tick.status.get("phase") or "Pending"
    if phase in TERMINAL:
        expire_if_due(tick, body.get("spec") or {})
        return
    try:
        spec = VideoJobSpec.model_validate(body.get("spec") or {})
        Paths(spec, tick.namespace, tick.name, tick.uid)  # refuses paths that would leave their volume
    except (ValidationError, ValueError) as exc:
        tick.fail("InvalidSpec", _one_line(exc))
        return
    if not tick.status.get("startTime"):
        tick.set("startTime", now())
    if phase == "Finalizing":
        finalize_stage(tick, spec)
    elif tick.status.get("plan", {}).get("segments"):
        processing_stage(tick, spec)
    else:
        detect_stage(tick, spec)


def detect_stage(tick: Tick, spec: VideoJobSpec) -> None:
    name = child_name(tick.name, "detect")
    pod = children.read_pod(tick.namespace, name)
    if pod is None:
        children.create(build_detect_pod(spec, tick.namespace, tick.name, tick.uid), tick.body)
        tick.phase("Detecting", "DetectStarted", "probing the video, detecting regions and planning segments")
        return
    state = pod["status"].get("phase")
    if state == "Succeeded":
        summary = message_of(pod)
        segments = summary.get("segments")
        if not isinstance(segments, int) or segments < 1:
            tick.fail("DetectFailed", f"detect: the worker reported no segment plan ({summary})")
            return
        tick.set("plan", summary)
        tick.set("frames", {"total": int(summary.get("frames", 0)), "done": 0})
        tick.set("segments", {"total": segments, "succeeded": 0, "failed": 0, "active": 0,
                              "summary": f"0/{segments}"})
        tick.stage_seconds("detect", _ran_seconds(pod))
        _observe_pending(pod, "detect")
        tick.phase("Processing", "Planned", f"{segments} segments, {summary.get('frames')} frames")
        processing_stage(tick, spec)
    elif state == "Failed":
        tick.fail("DetectFailed", f"detect: {failure_reason(pod)}")
    elif tick.status.get("phase") != "Detecting":
        tick.phase("Detecting", "DetectRunning", "probing the video, detecting regions and planning segments")


def processing_stage(tick: Tick, spec: VideoJobSpec) -> None:
    total = int(tick.status["plan"]["segments"])
    name = child_name(tick.name, "segments")
    job = children.read_job(tick.namespace, name)
    if job is None:
        children.create(build_segment_job(spec, tick.namespace, tick.name, tick.uid, total), tick.body)
        tick.phase("Processing", "SegmentsStarted", f"{total} segments, at most {spec.max_parallel_pods} at once")
        return
    js = job.get("status") or {}
    done = _count_indexes(js.get("completedIndexes"))
    failed = _count_indexes(js.get("failedIndexes"))
    previous = tick.status.get("segments") or {}
    tick.set("segments", {"total": total, "succeeded": done, "failed": failed, "active": int(js.get("active") or 0),
                          "summary": f"{done}/{total}"})
    tick.set("progress", min(99, int(100 * done / total)))
    frames_total = int((tick.status.get("frames") or {}).get("total", 0))
    tick.set("frames", {"total": frames_total, "done": int(frames_total * done / total)})
    newly = done - int(previous.get("succeeded") or 0)
    if newly > 0:
        metrics.add_frames(int(frames_total * newly / total))
    retries = int(js.get("failed") or 0) - int((tick.status.get("retries") or 0))
    if retries > 0:
        metrics.add_retries(retries)
        tick.set("retries", int(js.get("failed") or 0))
    if bool((job.get("spec") or {}).get("suspend")) != spec.suspend:
        children.patch_job_suspend(tick.namespace, name, spec.suspend)
        kopf.event(tick.body, type="Normal", reason="Suspended" if spec.suspend else "Resumed",
                   message="segment Job suspended" if spec.suspend else "segment Job resumed")
    conditions = {c["type"]: c for c in js.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions:
        tick.stage_seconds("process", children.seconds_between(js.get("startTime"), js.get("completionTime")))
        for pod in children.list_pods(tick.namespace, f"{LABEL_JOB}={tick.name},{LABEL_STAGE}=segments"):
            seconds = _ran_seconds(pod)
            if seconds is not None and pod["status"].get("phase") == "Succeeded":
                metrics.observe_segment(seconds)
                _observe_pending(pod, "segments")
        tick.set("progress", 99)
        tick.phase("Finalizing", "SegmentsDone", f"all {total} segments done; joining them")
        finalize_stage(tick, spec)
    elif "Failed" in conditions:
        tick.fail("SegmentFailed", segment_failure(tick, conditions["Failed"]))
    elif spec.suspend:
        tick.phase("Processing", "Suspended", f"suspended at {done}/{total} segments")
    else:
        tick.phase("Processing", "SegmentsRunning", f"{done}/{total} segments done")


def segment_failure(tick: Tick, condition: dict[str, Any]) -> str:
    """Which segment failed and what its worker said, from the failed pods' termination messages."""
    pods = children.list_pods(tick.namespace, f"{LABEL_JOB}={tick.name},{LABEL_STAGE}=segments")
    failed = [p for p in pods if p["status"].get("phase") == "Failed" and terminated_state(p)]
    failed.sort(key=lambda p: (0 if message_of(p).get("kind") == "bad-input" else 1, p["metadata"]["name"]))
    if not failed:
        return f"segments: {condition.get('reason')}: {condition.get('message', '')}".strip()
    pod = failed[0]
    index = (pod["metadata"].get("annotations") or {}).get("batch.kubernetes.io/job-completion-index", "?")
    return f"segment {index}: {failure_reason(pod)}"


def finalize_stage(tick: Tick, spec: VideoJobSpec) -> None:
    name = child_name(tick.name, "finalize")
    pod = children.read_pod(tick.namespace, name)
    if pod is None:
        children.create(build_finalize_pod(spec, tick.namespace, tick.name, tick.uid), tick.body)
        return
    state = pod["status"].get("phase")
    if state == "Succeeded":
        summary = message_of(pod)
        tick.set("output", {"path": spec.output.path, "bytes": int(summary.get("bytes", 0)),
                            "frames": int(summary.get("frames", 0)), "duration": summary.get("duration"),
                            "encoder": summary.get("encoder")})
        frames_total = int((tick.status.get("frames") or {}).get("total", 0))
        tick.set("frames", {"total": frames_total, "done": frames_total})
        tick.stage_seconds("finalize", _ran_seconds(pod))
        tick.set("progress", 100)
        tick.set("completionTime", now())
        tick.phase("Succeeded", "Succeeded", f"wrote {spec.output.path} ({summary.get('bytes', 0)} bytes)")
    elif state == "Failed":
        tick.fail("FinalizeFailed", f"finalize: {failure_reason(pod)}")


def expire_if_due(tick: Tick, spec: dict[str, Any]) -> None:
    ttl = spec.get("ttlSecondsAfterFinished")
    finished = tick.status.get("completionTime")
    if ttl is None or not finished:
        return
    age = children.seconds_between(finished, now())
    if age is not None and age >= ttl:
        from .api import GROUP, PLURAL, VERSION

        children.delete_videojob(GROUP, VERSION, PLURAL, tick.namespace, tick.name)


def _count_indexes(text: str | None) -> int:
    """Count indexes in the Job API's interval notation, e.g. "0-2,5" -> 4."""
    if not text:
        return 0
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def _ran_seconds(pod: dict[str, Any]) -> float | None:
    term = terminated_state(pod) or {}
    return children.seconds_between(term.get("startedAt"), term.get("finishedAt"))


def _observe_pending(pod: dict[str, Any], stage: str) -> None:
    term = terminated_state(pod) or {}
    waited = children.seconds_between(pod["metadata"].get("creationTimestamp"), term.get("startedAt"))
    if waited is not None:
        metrics.observe_pending(stage, waited)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return " ".join(str(exc).split())
