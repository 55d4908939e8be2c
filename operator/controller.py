"""The VideoJob state machine: Pending → Detecting → Processing → Finalizing → Succeeded | Failed.

Every step reads the children by their deterministic names and moves the status on; nothing lives only in
memory, so a restarted operator resumes where the children are. Finished children are never recreated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import metrics, progress
from .builders import (
    ChildContext,
    InvalidSpecError,
    build_detect_pod,
    build_finalize_pod,
    build_progress_secret,
    build_segment_job,
    context_from_body,
)
from .kube import Kube
from .naming import child_name, selector
from .observe import PodOutcome, completion_index, job_state, parse_time, pod_outcome
from .settings import OperatorSettings
from .stalls import restart_stalled
from .status import (
    TERMINAL,
    Attempts,
    FrameCounts,
    OutputInfo,
    SegmentCounts,
    StageSeconds,
    StageStarts,
    VideoInfo,
    VideoJobStatus,
)
from .step import Step, iso

log = logging.getLogger("videojob.operator")
STAGE_SHARE = {"detect": (0, 5), "process": (5, 95), "finalize": (95, 100)}  # progress percent per stage


class Controller:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings

    # ---- entry point -------------------------------------------------------------------------------------
    def reconcile(self, body: Mapping[str, Any], status: Mapping[str, Any], now: datetime | None = None) -> Step:
        meta = body["metadata"]
        current = VideoJobStatus.model_validate({k: v for k, v in dict(status).items() if k != "kopf"})
        step = Step(
            status=current.model_copy(deep=True), now=now or datetime.now(UTC), generation=meta.get("generation")
        )
        st = step.status
        if st.phase in TERMINAL:
            self._expire(body, step)
            return step
        st.observed_generation = step.generation
        try:
            ctx = context_from_body(
                body, default_image=self.settings.worker_image, default_redis_url=self.settings.redis_url
            )
            ctx.config_json()  # refuses escaping model/template paths too
        except InvalidSpecError as e:
            self._fail(step, "InvalidSpec", str(e))
            return step
        if st.phase in (None, "Pending"):
            self._start(ctx, step)
        if st.phase == "Detecting":
            self._detecting(ctx, step)
        if st.phase == "Processing":
            self._processing(ctx, step)
        if st.phase == "Finalizing":
            self._finalizing(ctx, step)
        return step

    # ---- phases ------------------------------------------------------------------------------------------
    def _start(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        st.phase = "Detecting"
        st.start_time = st.start_time or iso(step.now)
        st.stage_starts = StageStarts(detect=iso(step.now))
        st.workdir = ctx.workdir
        st.progress = 0
        st.message = "probing, detecting and planning segments"
        step.condition("Ready", False, "Detecting", st.message)
        step.event("Started", f"detecting and planning {ctx.spec.input.claim_name}:{ctx.spec.input.path}")

    def _detecting(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        if st.segments and st.segments.total:  # planned already (the pod may be gone): go on
            self._begin_processing(ctx, step)
            return
        pod = self._single_pod(ctx, step, "detect", build_detect_pod)
        if pod is None or pod.phase != "Succeeded":
            return
        summary = pod.message or {}
        try:
            total, frames = int(summary["segments"]), int(summary["frames"])
        except (KeyError, TypeError, ValueError):
            self._fail(step, "DetectFailed", f"detect pod ended without a plan summary: {pod.error}")
            return
        if total < 1:
            self._fail(step, "DetectFailed", "detect planned no segments: the input has no video frames")
            return
        asked = ctx.spec.segmentation.segments
        if asked is not None and total < asked:
            # The plan never makes segments shorter than minFramesPerSegment: say so rather than run fewer.
            per = ctx.spec.segmentation.min_frames_per_segment
            msg = (
                f"spec.segmentation.segments: {asked} asked, but the input's {frames} frames make at most {total} "
                f"segments of minFramesPerSegment {per} frames; ask for {total} or fewer, or lower minFramesPerSegment"
            )
            self._fail(step, "SegmentsUnavailable", msg)
            return
        secs = step.seconds_since(st.stage_starts.detect if st.stage_starts else None)
        st.stage_seconds = StageSeconds(detect=round(secs, 3))
        metrics.observe_stage("detect", secs)
        self._observe_pending("detect", pod)
        st.segments = SegmentCounts(total=total)
        st.frames = FrameCounts(total=frames)
        st.video = VideoInfo(
            fps=summary.get("fps"),
            width=summary.get("width"),
            height=summary.get("height"),
            regions=summary.get("regions"),
        )
        step.condition("Detected", True, "Planned", f"{total} segments, {frames} frames")
        step.event("Planned", f"{total} segments, {frames} frames, {summary.get('regions', 0)} frames with regions")
        self._begin_processing(ctx, step)

    def _begin_processing(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        st.phase = "Processing"
        assert st.segments is not None
        st.stage_starts = (st.stage_starts or StageStarts()).model_copy(update={"process": iso(step.now)})
        st.progress = STAGE_SHARE["process"][0]
        st.message = f"processing {st.segments.total} segments"
        step.condition("Ready", False, "Processing", st.message)
        if not self._create_segments(ctx, st.segments.total):
            return  # made before a restart: its state is read in the next step
        if ctx.spec.suspend:
            step.event("Suspended", "segment Job created suspended: set spec.suspend to false to run it")
        else:
            step.event(
                "SegmentsStarted",
                f"Indexed Job {child_name(ctx.name, 'segments')}: "
                f"{st.segments.total} segments, {ctx.spec.max_parallel_pods} at most at once",
            )

    def _processing(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        assert st.segments is not None
        name = child_name(ctx.name, "segments")
        job = self.kube.get_job(ctx.namespace, name)
        if job is None:  # never created, or deleted by hand: finished segments are skipped by the workers
            self._create_segments(ctx, st.segments.total)
            return
        js = job_state(job)
        if js.suspended != ctx.spec.suspend:
            self.kube.set_job_suspend(ctx.namespace, name, ctx.spec.suspend)
            step.event(
                "Suspended" if ctx.spec.suspend else "Resumed",
                f"segment Job {'suspended' if ctx.spec.suspend else 'resumed'}",
            )
        step.condition("Suspended", ctx.spec.suspend, "Suspended" if ctx.spec.suspend else "Running")
        done_before = st.segments.succeeded
        st.segments = SegmentCounts(
            total=st.segments.total, succeeded=len(js.completed), failed=len(js.failed), active=js.active
        )
        self._track_frames(ctx, step, js.completed, done_before)
        if js.failure:
            self._segment_failed(ctx, step, js.failed, js.failure)
            return
        if js.complete:
            secs = step.seconds_since(st.stage_starts.process if st.stage_starts else None)
            st.stage_seconds = (st.stage_seconds or StageSeconds()).model_copy(update={"process": round(secs, 3)})
            metrics.observe_stage("process", secs)
            self._observe_segments(ctx)
            st.phase = "Finalizing"
            st.stage_starts = (st.stage_starts or StageStarts()).model_copy(update={"finalize": iso(step.now)})
            st.progress = STAGE_SHARE["finalize"][0]
            st.message = "concatenating segments and remuxing audio"
            step.condition("Processed", True, "SegmentsDone", f"{st.segments.total} segments")
            step.condition("Ready", False, "Finalizing", st.message)
            step.event("SegmentsDone", f"all {st.segments.total} segments done in {secs:.1f}s")
            self._finalizing(ctx, step)
            return
        st.message = f"{len(js.completed)}/{st.segments.total} segments done, {js.active} running"
        if ctx.spec.suspend:
            st.message = f"suspended: {st.message}"

    def _finalizing(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        pod = self._single_pod(ctx, step, "finalize", build_finalize_pod)
        if pod is None or pod.phase != "Succeeded":
            return
        summary = pod.message or {}
        secs = step.seconds_since(st.stage_starts.finalize if st.stage_starts else None)
        st.stage_seconds = (st.stage_seconds or StageSeconds()).model_copy(update={"finalize": round(secs, 3)})
        metrics.observe_stage("finalize", secs)
        self._observe_pending("finalize", pod)
        out_claim = ctx.spec.output.claim_name or ctx.spec.input.claim_name
        st.output = OutputInfo(
            path=f"{out_claim}:{ctx.spec.output.path}", bytes=summary.get("bytes"), duration=summary.get("duration")
        )
        if st.frames is not None and isinstance(summary.get("frames"), int):
            st.frames.done = summary["frames"]
        st.phase = "Succeeded"
        st.progress = 100
        st.completion_time = iso(step.now)
        st.message = f"wrote {st.output.path} ({summary.get('bytes', '?')} bytes)"
        step.condition("Finalized", True, "OutputWritten", st.message)
        step.condition("Ready", True, "Succeeded", st.message)
        step.event("Succeeded", st.message)
        metrics.forget(ctx.namespace, ctx.name)

    # ---- helpers -----------------------------------------------------------------------------------------
    def _create_segments(self, ctx: ChildContext, total: int) -> bool:
        """The segment Job, after the Secret its pods read the Redis URL from (create-if-absent, both)."""
        if ctx.redis_url:
            self.kube.create(build_progress_secret(ctx))
        return self.kube.create(build_segment_job(ctx, total))

    def _single_pod(self, ctx: ChildContext, step: Step, stage: str, build: Any) -> PodOutcome | None:
        """The detect or finalize pod: created if absent, replaced after a transient failure (bounded)."""
        name = child_name(ctx.name, stage)
        raw = self.kube.get_pod(ctx.namespace, name)
        if raw is None:
            self.kube.create(build(ctx))
            return None
        if raw["metadata"].get("deletionTimestamp"):
            return None  # a replaced pod still going away: the new one comes once the name is free
        pod = pod_outcome(raw)
        if pod.phase != "Failed":
            return pod
        attempts = step.status.attempts or Attempts()
        used = getattr(attempts, stage)
        if pod.bad_input:
            self._fail(step, f"{stage.capitalize()}Failed", f"{stage}: {pod.error}")
        elif pod.disrupted or used < ctx.spec.retries_per_segment:
            # Evictions do not count against the retries, like the Job's podFailurePolicy Ignore rule.
            if not pod.disrupted:
                step.status.attempts = attempts.model_copy(update={stage: used + 1})
                metrics.add_retries(1)
            step.event("Retrying", f"{stage} pod failed ({pod.error}); replacing it", warning=True)
            self.kube.delete_pod(ctx.namespace, name, raw["metadata"].get("uid"))
        else:
            self._fail(step, f"{stage.capitalize()}Failed", f"{stage} failed {used + 1} times; last error: {pod.error}")
        return None

    def _segment_failed(self, ctx: ChildContext, step: Step, failed: set[int], reason: str) -> None:
        pods = self.kube.list_pods(ctx.namespace, selector(ctx.name, "segments"))
        worst: tuple[int, PodOutcome] | None = None
        for raw in pods:
            index = completion_index(raw)
            pod = pod_outcome(raw)
            if pod.phase != "Failed" or index is None or (failed and index not in failed):
                continue
            if worst is None or (pod.message and not worst[1].message):
                worst = (index, pod)
        if worst is None:
            self._fail(step, "SegmentFailed", f"segment Job failed ({reason})")
            return
        index, pod = worst
        self._fail(step, "SegmentFailed", f"segment {index}: {pod.error}")

    def _track_frames(self, ctx: ChildContext, step: Step, completed: set[int], done_before: int) -> None:
        st = step.status
        assert st.segments is not None
        total_frames = st.frames.total if st.frames else 0
        share = len(completed) / st.segments.total
        done = int(total_frames * share)
        if ctx.redis_url:
            live = progress.read_progress(ctx.redis_url, ctx.job_key, st.segments.total)
            if live is not None:
                done = max(done, min(total_frames, live.frames_done))
                active = set(range(st.segments.total)) - completed
                stalls = restart_stalled(
                    self.kube,
                    ctx.namespace,
                    selector(ctx.name, "segments"),
                    live,
                    step.now.timestamp(),
                    self.settings.stall_seconds,
                    active,
                )
                for s in stalls:  # one event per deleted pod (see stalls.py for what it costs)
                    metrics.add_stalled(1)
                    msg = f"segment {s.index} sent no progress for {s.silent_seconds:.0f}s: deleted pod {s.pod}"
                    step.event("Stalled", f"{msg}; the Job retries the segment", warning=True)
        previous = st.frames.done if st.frames else 0
        if done > previous:
            metrics.add_frames(done - previous)
        st.frames = FrameCounts(total=total_frames, done=max(done, previous))
        secs = step.seconds_since(st.stage_starts.process if st.stage_starts else None)
        if secs > 0:
            metrics.set_fps(ctx.namespace, ctx.name, st.frames.done / secs)
        lo, hi = STAGE_SHARE["process"]
        fraction = st.frames.done / total_frames if total_frames else share
        st.progress = int(lo + (hi - lo) * min(1.0, fraction))

    def _observe_pending(self, stage: str, pod: PodOutcome) -> None:
        if pod.created and pod.started:
            metrics.observe_pending(stage, max(0.0, (pod.started - pod.created).total_seconds()))

    def _observe_segments(self, ctx: ChildContext) -> None:
        for raw in self.kube.list_pods(ctx.namespace, selector(ctx.name, "segments")):
            pod = pod_outcome(raw)
            if pod.phase == "Succeeded" and pod.message and isinstance(pod.message.get("seconds"), int | float):
                metrics.observe_segment(float(pod.message["seconds"]))

    def _fail(self, step: Step, reason: str, message: str) -> None:
        st = step.status
        st.phase = "Failed"
        st.message = message
        st.completion_time = iso(step.now)
        step.condition("Failed", True, reason, message)
        step.condition("Ready", False, reason, message)
        step.event(reason, message, warning=True)

    def _expire(self, body: Mapping[str, Any], step: Step) -> None:
        ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
        done = parse_time(step.status.completion_time)
        if ttl is not None and done is not None and (step.now - done).total_seconds() >= ttl:
            step.delete_self = True  # done by the handler once this timer tick has returned
