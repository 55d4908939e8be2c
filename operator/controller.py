"""The VideoJob state machine: Pending → Detecting → Processing → Finalizing → Succeeded | Failed.

Every step reads the children by their deterministic names and moves the status on; nothing lives only in
memory, so a restarted operator resumes where the children are. Finished children are never recreated.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from . import ending, metrics, outputlock, progress
from .builders import (
    ChildContext,
    InvalidSpecError,
    build_detect_job,
    build_finalize_job,
    build_progress_secret,
    build_segment_job,
    context_from_body,
    is_pool_job,
    pool_slots,
    segment_mode,
)
from .kube import ChildRefusedError, Kube
from .naming import STAGES, child_name, selector
from .observe import (
    JobState,
    PodOutcome,
    completion_index,
    job_state,
    parse_time,
    pod_outcome,
    succeeded,
    why_not_started,
)
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
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


class Controller:
    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings

    # ---- entry point -------------------------------------------------------------------------------------
    def reconcile(
        self,
        body: Mapping[str, Any],
        status: Mapping[str, Any],
        now: datetime | None = None,
        pods_changed: bool = False,
    ) -> Step:
        meta = body["metadata"]
        current = VideoJobStatus.model_validate({k: v for k, v in dict(status).items() if k != "kopf"})
        step = Step(
            status=current.model_copy(deep=True),
            now=now or datetime.now(UTC),
            generation=meta.get("generation"),
            pods_changed=pods_changed,
        )
        st = step.status
        if st.phase in TERMINAL:
            return step
        try:
            ctx = context_from_body(
                body,
                default_image=self.settings.worker_image,
                default_redis_url=self.settings.redis_url,
                propagate_keys=self.settings.propagate_keys,
                child_ttl_seconds=self.settings.child_ttl_seconds,
            )
            ctx.config_json()  # refuses escaping model/template paths too
        except InvalidSpecError as e:
            self._fail(step, "InvalidSpec", str(e))
            return step
        try:
            self._advance(ctx, step)
        except ChildRefusedError as e:  # never retried: the same manifest is refused every time
            self._fail(step, "ChildRefused", f"the API server refused a child of this VideoJob: {e}", ctx, STAGES)
        if st.phase in TERMINAL:  # ended in this tick: the one moment to give up what the job held
            self._ended(ctx, step)
        # Every accepted change is applied by now (suspend, maxParallelPods; the rest is immutable).
        st.observed_generation = step.generation
        return step

    def _advance(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        limit = ctx.spec.active_deadline_seconds
        if limit is not None and st.start_time and step.seconds_since(st.start_time) >= limit:
            msg = f"the VideoJob ran longer than its activeDeadlineSeconds ({limit}s) in phase {st.phase}"
            self._fail(step, "DeadlineExceeded", msg, ctx, STAGES)
            return
        if st.phase in (None, "Pending"):
            self._start(ctx, step)
        if st.phase == "Detecting":
            self._detecting(ctx, step)
        if st.phase == "Processing":
            self._processing(ctx, step)
        if st.phase == "Finalizing":
            self._finalizing(ctx, step)

    # ---- phases ------------------------------------------------------------------------------------------
    def _start(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        other = outputlock.acquire(self.kube, ctx, step.now)  # one writer per output file (outputlock.py)
        if other is not None:
            self._fail(step, "OutputInUse", outputlock.conflict_message(ctx, other))
            return
        st.phase = "Detecting"
        st.start_time = st.start_time or iso(step.now)
        st.stage_starts = StageStarts(detect=iso(step.now))
        st.workdir = ctx.workdir
        st.progress = 0
        st.message = "probing, detecting and planning segments"
        step.condition("Ready", False, "Detecting", st.message)
        step.event("Started", f"detecting and planning {ctx.spec.input.where()}")

    def _detecting(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        if st.segments and st.segments.total:  # planned already (the pod may be gone): go on
            self._begin_processing(ctx, step)
            return
        pod = self._single_job(ctx, step, "detect", build_detect_job)
        if pod is None:
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
        secs = _span([pod]) or step.seconds_since(st.stage_starts.detect if st.stage_starts else None)
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
        if ctx.job_labels and KUEUE_QUEUE_LABEL in dict(ctx.job_labels):
            step.event("Queued", f"segment Job queued in Kueue LocalQueue {dict(ctx.job_labels)[KUEUE_QUEUE_LABEL]}")
        elif ctx.spec.suspend:
            step.event("Suspended", "segment Job created suspended: set spec.suspend to false to run it")
        elif segment_mode(ctx, st.segments.total) == "pool":
            slots = pool_slots(ctx, st.segments.total)
            step.event(
                "SegmentsStarted",
                f"Indexed Job {child_name(ctx.name, 'segments')}: {slots} pool workers claiming "
                f"{st.segments.total} segments",
            )
        else:
            step.event(
                "SegmentsStarted",
                f"Indexed Job {child_name(ctx.name, 'segments')}: "
                f"{st.segments.total} segments, {ctx.spec.max_parallel_pods} at most at once",
            )

    def _processing(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        assert st.segments is not None
        name, total = child_name(ctx.name, "segments"), st.segments.total
        # Never created, or deleted by hand: finished segments are skipped by the workers.
        job = self._job_or_create(ctx, name, lambda: self._create_segments(ctx, total))
        if job is None:
            return
        js = job_state(job)
        self._apply_spec(ctx, step, job, js)
        if is_pool_job(job):
            self._processing_pool(ctx, step, js)
            return
        done_before = st.segments.succeeded
        pods: list[dict[str, Any]] | None = None
        # The tail (every segment left is running) reads the pods on their events, so that the last segment's
        # end hands over at once rather than after the Job controller's batched sync.
        tail = step.pods_changed and st.segments.total - len(js.completed) <= max(js.active, 1)
        if tail or js.failed_pods > st.segments.retries or js.active > js.ready or js.failure:
            pods = self.kube.list_pods(ctx.namespace, selector(ctx.name, "segments"))
            js = _with_succeeded_pods(js, pods)
        retries = st.segments.retries
        if pods is not None and not js.failure:
            retries = self._note_retries(ctx, step, "segments", pods, js.failed_pods, retries)
        st.segments = SegmentCounts(
            total=st.segments.total,
            succeeded=len(js.completed),
            failed=len(js.failed),
            active=js.active,
            retries=retries,
        )
        self._track_frames(ctx, step, js.completed, done_before)
        if js.failure:
            self._segment_failed(ctx, step, js.failed, js.failure, pods or [])
            return
        if js.complete:
            self._segments_done(ctx, step, per_segment=True)
            return
        if pods is not None:
            self._check_started(ctx, step, "segments", pods)
            if st.phase == "Failed":
                return
        st.message = f"{len(js.completed)}/{st.segments.total} segments done, {js.active} running"
        if js.suspended:
            st.message = f"suspended: {st.message}"

    def _processing_pool(self, ctx: ChildContext, step: Step, js: JobState) -> None:
        """Pool mode: the Job's indexes are worker slots, not segments. Segments done come from Redis progress
        (a segment whose frames reached its total) when there is one, else from the Job: all once it completed. A
        failure is the failed pod's termination message, which names its segment."""
        st = step.status
        assert st.segments is not None
        total = st.segments.total
        pods: list[dict[str, Any]] | None = None
        # A worker's pod event: read the pods (the cache), so that the last worker's end hands over at once.
        if step.pods_changed or js.failed_pods > st.segments.retries or js.active > js.ready or js.failure:
            pods = self.kube.list_pods(ctx.namespace, selector(ctx.name, "segments"))
            js = _with_succeeded_pods(js, pods)
        retries = st.segments.retries
        if pods is not None and not js.failure:
            retries = self._note_retries(ctx, step, "segments", pods, js.failed_pods, retries)
        url = self._redis_url(ctx)
        live = progress.read_progress(url, ctx.job_key, total) if url and not js.complete else None
        finished = {i for i, s in (live.segments if live else {}).items() if s.total and s.frames >= s.total}
        succeeded = total if js.complete else max(len(finished), st.segments.succeeded)
        running = js.active
        st.segments = SegmentCounts(
            total=total, succeeded=succeeded, failed=1 if js.failure else 0, active=running, retries=retries
        )
        total_frames = st.frames.total if st.frames else 0
        done = total_frames if js.complete else min(total_frames, live.frames_done if live else 0)
        previous = st.frames.done if st.frames else 0
        if done > previous:
            metrics.add_frames(done - previous)
        st.frames = FrameCounts(total=total_frames, done=max(done, previous))
        lo, hi = STAGE_SHARE["process"]
        st.progress = int(lo + (hi - lo) * (st.frames.done / total_frames if total_frames else succeeded / total))
        if js.failure:
            failed = sorted(
                (p for p in pods or [] if (p.get("status") or {}).get("phase") == "Failed"), key=_finished_at
            )
            msg = pod_outcome(failed[-1]).error if failed else f"segment Job failed ({js.failure})"
            self._fail(step, "SegmentFailed", msg, ctx)
            return
        if js.complete:
            self._segments_done(ctx, step, per_segment=False)
            return
        if pods is not None:
            self._check_started(ctx, step, "segments", pods)
            if st.phase == "Failed":
                return
        st.message = f"{succeeded}/{total} segments done, {running} pool workers running"
        if js.suspended:
            st.message = f"suspended: {st.message}"

    def _segments_done(self, ctx: ChildContext, step: Step, per_segment: bool) -> None:
        """Every segment done: the stage's seconds and metrics, then on to finalize. `per_segment`: each pod's
        `seconds` is one segment's (pod-per-segment), not a pool worker's sum."""
        st = step.status
        assert st.segments is not None
        done = [pod_outcome(p) for p in self.kube.list_pods(ctx.namespace, selector(ctx.name, "segments"))]
        done = [p for p in done if p.phase == "Succeeded"]
        secs = _span(done) or step.seconds_since(st.stage_starts.process if st.stage_starts else None)
        st.stage_seconds = (st.stage_seconds or StageSeconds()).model_copy(update={"process": round(secs, 3)})
        metrics.observe_stage("process", secs)
        for p in done if per_segment else []:
            if p.message and isinstance(p.message.get("seconds"), int | float):
                metrics.observe_segment(float(p.message["seconds"]))
        st.phase = "Finalizing"
        st.stage_starts = (st.stage_starts or StageStarts()).model_copy(update={"finalize": iso(step.now)})
        st.progress = STAGE_SHARE["finalize"][0]
        st.message = "concatenating segments and remuxing audio"
        step.condition("Processed", True, "SegmentsDone", f"{st.segments.total} segments")
        step.condition("Ready", False, "Finalizing", st.message)
        step.event("SegmentsDone", f"all {st.segments.total} segments done in {secs:.1f}s")
        self._finalizing(ctx, step)

    def _finalizing(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        pod = self._single_job(ctx, step, "finalize", build_finalize_job)
        if pod is None:
            return
        summary = pod.message or {}
        secs = _span([pod]) or step.seconds_since(st.stage_starts.finalize if st.stage_starts else None)
        st.stage_seconds = (st.stage_seconds or StageSeconds()).model_copy(update={"finalize": round(secs, 3)})
        metrics.observe_stage("finalize", secs)
        self._observe_pending("finalize", pod)
        st.output = OutputInfo(
            path=ctx.spec.output.where(ctx.spec.input.claim_name),
            bytes=summary.get("bytes"),
            duration=summary.get("duration"),
        )
        if st.frames is not None and isinstance(summary.get("frames"), int):
            st.frames.done = summary["frames"]
        st.phase = "Succeeded"
        st.progress = 100
        st.completion_time = iso(step.now)
        st.message = f"wrote {st.output.path} ({summary.get('bytes', '?')} bytes)"
        step.condition("Finalized", True, "OutputWritten", st.message)
        step.condition("Ready", True, "Succeeded", st.message)
        step.condition("Complete", True, "Succeeded", st.message)  # `kubectl wait --for=condition=Complete`
        step.event("Succeeded", st.message)
        metrics.forget(ctx.namespace, ctx.name)

    # ---- helpers -----------------------------------------------------------------------------------------
    def _job_or_create(self, ctx: ChildContext, name: str, create: Callable[[], bool]) -> dict[str, Any] | None:
        """The child Job `name`, or None when it was created now (or is gone). One the Job watch never delivered
        is created at once: a GET first would answer 404 at nearly every stage's start, one request per stage;
        one made before an operator restart answers 409 and is read then."""
        if not self.kube.job_seen(ctx.namespace, name) and create():
            return None
        job = self.kube.get_job(ctx.namespace, name)
        if job is None:
            create()
        return job

    def _create_segments(self, ctx: ChildContext, total: int) -> bool:
        """The segment Job, after the Secret its pods read the Redis URL from (create-if-absent, both)."""
        if ctx.redis_url:
            self.kube.create(build_progress_secret(ctx))
        return self.kube.create(build_segment_job(ctx, total))

    def _apply_spec(self, ctx: ChildContext, step: Step, job: dict[str, Any], js: JobState) -> None:
        """The running segment Job follows the VideoJob's mutable fields: suspend and maxParallelPods. A Job that
        Kueue manages is Kueue's to suspend and resume: the operator never un-suspends it."""
        st = step.status
        assert st.segments is not None
        kueue = KUEUE_QUEUE_LABEL in ((job.get("metadata") or {}).get("labels") or {})
        name = child_name(ctx.name, "segments")
        patch: dict[str, Any] = {}
        if not kueue and js.suspended != ctx.spec.suspend:
            patch["suspend"] = ctx.spec.suspend
            step.event(
                "Suspended" if ctx.spec.suspend else "Resumed",
                f"segment Job {'suspended' if ctx.spec.suspend else 'resumed'}",
            )
        completions = (job.get("spec") or {}).get("completions") or st.segments.total  # pool: its worker slots
        parallelism = min(completions, ctx.spec.max_parallel_pods)
        if not kueue and (job.get("spec") or {}).get("parallelism") != parallelism:
            patch["parallelism"] = parallelism
            step.event("Scaled", f"segment Job runs at most {parallelism} pods at once")
        if patch:
            self.kube.patch_job_spec(ctx.namespace, name, patch)
        suspended = patch.get("suspend", js.suspended)
        if kueue and suspended:
            step.condition("Suspended", True, "Queued", "waiting for Kueue to admit the segment Job")
        else:
            step.condition("Suspended", suspended, "Suspended" if suspended else "Running")

    def _single_job(self, ctx: ChildContext, step: Step, stage: str, build: Any) -> PodOutcome | None:
        """Detect or finalize, a one-completion Job: created if absent; its pod's outcome once it succeeded."""
        job = self._job_or_create(ctx, child_name(ctx.name, stage), lambda: self.kube.create(build(ctx)))
        if job is None:
            return None
        js = job_state(job)
        attempts = step.status.attempts or Attempts()
        seen = getattr(attempts, stage)
        if not (step.pods_changed or js.complete or js.failure or js.failed_pods > seen or js.active > js.ready):
            return None  # running: nothing to read
        pods = self.kube.list_pods(ctx.namespace, selector(ctx.name, stage))
        done = [pod_outcome(p) for p in pods if succeeded(p)]
        if done and not js.failure:
            # One completion: its pod's success is the Job's, seen before the Job controller's batched sync.
            return done[-1]
        if js.failure:
            self._fail(step, f"{stage.capitalize()}Failed", _stage_error(stage, pods, js), ctx)
            return None
        if js.failed_pods > seen:
            used = self._note_retries(ctx, step, stage, pods, js.failed_pods, seen)
            step.status.attempts = attempts.model_copy(update={stage: used})
        if js.complete:  # its pod already gone (TTL)
            return pod_outcome({"status": {"phase": "Succeeded"}})
        self._check_started(ctx, step, stage, pods)
        return None

    def _note_retries(
        self, ctx: ChildContext, step: Step, stage: str, pods: list[dict[str, Any]], failed: int, seen: int
    ) -> int:
        """An Event per pod that failed since the last look (the Job retries it), and the retry metric."""
        if failed <= seen:
            return seen
        limit = ctx.spec.retries_per_segment
        fresh = sorted((p for p in pods if (p.get("status") or {}).get("phase") == "Failed"), key=_finished_at)
        for raw in fresh[-(failed - seen) :]:
            pod = pod_outcome(raw)
            if pod.disrupted:
                continue
            index = completion_index(raw)
            who = f"segment {index}" if stage == "segments" and index is not None else f"{stage} pod"
            step.event("Retrying", f"{who} failed ({pod.error}); its Job retries it ({limit} retries allowed)", True)
        metrics.add_retries(failed - seen)
        return failed

    def _check_started(self, ctx: ChildContext, step: Step, stage: str, pods: list[dict[str, Any]]) -> None:
        """A pod that cannot start (no node fits, a missing claim or Secret, an image that cannot be pulled) is
        named in a condition and an Event at once, and fails the VideoJob after spec.deadlines.pendingSeconds."""
        st = step.status
        stuck = [(raw, why) for raw in pods if (why := why_not_started(raw)) is not None]
        # Unschedulable while a sibling holds what it waits for (more parallel pods than GPUs): queued behind this
        # job's own pods, which free it as they finish. Not stuck, and its wait counts from the last sibling's end:
        # a long job's last pods wait longer than pendingSeconds by design (1000 segments on 2 GPUs: over 600 s).
        freed = _siblings_active_until(pods, step.now) if stuck else None  # every pod read only when one waits
        if freed is not None and (step.now - freed).total_seconds() < QUEUE_GRACE_SECONDS:
            stuck = [(raw, why) for raw, why in stuck if why[0] != "Unschedulable"]
        before = next((c for c in st.conditions if c.type == "PodsStarted"), None)
        if not stuck:
            if before is not None and before.status == "False":
                step.condition("PodsStarted", True, "Started", f"{stage} pods started")
            return
        raw, (reason, message) = stuck[0]
        text = f"{stage} pod {raw['metadata']['name']} cannot start: {message}"
        if before is None or before.message != text:
            step.condition("PodsStarted", False, reason, text)
            step.event(reason, text, warning=True)
        created = min(_pending_since(r, why[0], freed, step.now) for r, why in stuck)
        waited = (step.now - created).total_seconds()
        limit = ctx.spec.deadlines.pending_seconds
        if waited >= limit:
            msg = f"{text} (for {waited:.0f}s, longer than spec.deadlines.pendingSeconds {limit}s)"
            self._fail(step, reason, msg, ctx, (stage,))

    def _segment_failed(
        self, ctx: ChildContext, step: Step, failed: set[int], reason: str, pods: list[dict[str, Any]]
    ) -> None:
        worst: tuple[int, PodOutcome] | None = None
        for raw in pods:
            index = completion_index(raw)
            pod = pod_outcome(raw)
            if pod.phase != "Failed" or index is None or (failed and index not in failed):
                continue
            if worst is None or (pod.message and not worst[1].message):
                worst = (index, pod)
        if worst is None:
            self._fail(step, "SegmentFailed", f"segment Job failed ({reason})", ctx)
            return
        index, pod = worst
        self._fail(step, "SegmentFailed", f"segment {index}: {pod.error}", ctx)

    def _track_frames(self, ctx: ChildContext, step: Step, completed: set[int], done_before: int) -> None:
        st = step.status
        assert st.segments is not None
        total_frames = st.frames.total if st.frames else 0
        share = len(completed) / st.segments.total
        done = int(total_frames * share)
        url = self._redis_url(ctx)
        if url:
            active = set(range(st.segments.total)) - completed
            # Only the segments still at work: a finished one counts by the Job's completions.
            live = progress.read_progress(url, ctx.job_key, st.segments.total, only=active)
            if live is not None:
                done = min(total_frames, done + live.frames_done)
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

    def _redis_url(self, ctx: ChildContext) -> str | None:
        """The operator's default URL, or the one in the Secret the VideoJob names (read each time: a rotated
        password is picked up; a missing Secret only costs the live progress)."""
        if ctx.redis_secret is None:
            return ctx.redis_url
        return self.kube.read_secret_key(ctx.namespace, *ctx.redis_secret)

    def _ended(self, ctx: ChildContext, step: Step) -> None:
        st = step.status
        total = st.segments.total if st.segments else 0
        url = self._redis_url(ctx) if total else None
        done = ending.on_end(self.kube, ctx, st.phase or "", total, url, workdir_made=st.workdir is not None)
        if done.cleanup_job:
            step.event("CleaningUp", f"removing the work directory {st.workdir} (spec.keepWorkdir keeps it)")
        if done.cleanup_refused:
            msg = f"the work directory {st.workdir} stays: its cleanup Job was refused ({done.cleanup_refused})"
            step.event("CleanupRefused", msg, warning=True)

    def _fail(
        self, step: Step, reason: str, message: str, ctx: ChildContext | None = None, stop: tuple[str, ...] = ()
    ) -> None:
        """Failed, with the reason in status, a condition and an Event; the Jobs of `stop` (still running, or
        waiting for a node that never comes) are deleted so that nothing keeps trying."""
        st = step.status
        st.phase = "Failed"
        st.message = message
        st.completion_time = iso(step.now)
        step.condition("Failed", True, reason, message)
        step.condition("Ready", False, reason, message)
        step.event(reason, message, warning=True)
        if ctx is not None:
            for stage in stop:
                self.kube.delete_job(ctx.namespace, child_name(ctx.name, stage))


def expires_at(body: Mapping[str, Any]) -> datetime | None:
    """When a finished VideoJob is deleted (spec.ttlSecondsAfterFinished after its completion); None: kept."""
    ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
    status = body.get("status") or {}
    done = parse_time(status.get("completionTime")) if status.get("phase") in TERMINAL else None
    return None if ttl is None or done is None else done + timedelta(seconds=int(ttl))


# A sibling that ended this recently has just freed its GPU: the scheduler places a queued pod within its backoff.
QUEUE_GRACE_SECONDS = 60.0


def _siblings_active_until(pods: list[dict[str, Any]], now: datetime) -> datetime | None:
    """Until when this stage's pods held resources: now while one runs, else its last container's end."""
    ends: list[datetime] = []
    for raw in pods:
        running = (raw.get("status") or {}).get("phase") == "Running" and not succeeded(raw)
        if running and not (raw.get("metadata") or {}).get("deletionTimestamp"):
            return now
        if (end := parse_time(_terminated_at(raw))) is not None:
            ends.append(end)
    return max(ends, default=None)


def _pending_since(pod: dict[str, Any], reason: str, freed: datetime | None, now: datetime) -> datetime:
    """Since when a pod that cannot start has waited in vain: its creation, or for lack of room (Unschedulable)
    the last time a sibling held room it could have had."""
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or now
    return max(created, freed) if reason == "Unschedulable" and freed is not None else created


def _with_succeeded_pods(js: JobState, pods: list[dict[str, Any]]) -> JobState:
    """The Job's state with the indexes whose pod has succeeded counted as completed (what the Job controller
    records at its next sync); complete when that covers every index and nothing failed."""
    done = {i for p in pods if succeeded(p) and (i := completion_index(p)) is not None}
    if done <= js.completed:
        return js
    completed = js.completed | done
    total = js.completions
    complete = js.complete or (total is not None and len(completed) >= total and not js.failure)
    # The Job's `active` still counts the pods that succeeded since its last sync: they are not running.
    active = max(0, js.active - len(done - js.completed))
    ready = min(js.ready, active)
    return dataclasses.replace(js, completed=completed, complete=complete, active=active, ready=ready)


def _terminated_at(raw: dict[str, Any]) -> str | None:
    """When the pod's first terminated container ended (kubelet's `finishedAt`), if one has."""
    for cs in (raw.get("status") or {}).get("containerStatuses") or []:
        finished = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            return str(finished)
    return None


def _finished_at(raw: dict[str, Any]) -> str:
    return _terminated_at(raw) or str((raw.get("metadata") or {}).get("creationTimestamp") or "")


def _stage_error(stage: str, pods: list[dict[str, Any]], js: JobState) -> str:
    """One line for a failed detect or finalize Job: the last failed pod's error."""
    failed = sorted((p for p in pods if (p.get("status") or {}).get("phase") == "Failed"), key=_finished_at)
    if not failed:
        return f"{stage} Job failed ({js.failure})"
    pod = pod_outcome(failed[-1])
    if pod.bad_input:
        return f"{stage}: {pod.error}"
    return f"{stage} failed {js.failed_pods} times; last error: {pod.error}"


def _span(pods: list[PodOutcome]) -> float:
    """A stage's seconds from its workers' own clocks: the first process start to the last end (the
    termination messages' timings), not the operator's ticks. 0 when a worker did not say."""
    starts: list[float] = []
    ends: list[float] = []
    for pod in pods:
        timings = (pod.message or {}).get("timings") or {}
        begin, end = timings.get("process", timings.get("stage")), timings.get("end")
        if not isinstance(begin, int | float) or not isinstance(end, int | float):
            return 0.0
        starts.append(float(begin))
        ends.append(float(end))
    return max(0.0, max(ends) - min(starts)) if starts else 0.0
