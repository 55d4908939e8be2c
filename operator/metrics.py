"""The operator's Prometheus metrics (prometheus-client), served on `/metrics` by `serve(port)`.

Names follow the Prometheus conventions: base units (`_seconds`), counters end in `_total`.
The controller records through the small functions below so that the metric objects stay private
and a test can drive the same public surface the operator uses.
"""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PHASES = ("Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed", "Suspended")
STAGES = ("detect", "process", "finalize")

# Segment and stage times span seconds (a short clip on a GPU) to hours (a feature film on CPU).
_DURATION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))
# Queue time: seconds when a GPU is free, minutes to hours while the cluster autoscaler adds a node.
_PENDING_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))

_registry: CollectorRegistry = REGISTRY

JOBS = Gauge("videojob_jobs", "VideoJobs known to this operator, by phase.", ["phase"], registry=_registry)
ACTIVE_JOBS = Gauge("videojob_active_jobs", "VideoJobs that are neither Succeeded nor Failed.", registry=_registry)
STAGE_DURATION = Histogram(
    "videojob_stage_duration_seconds",
    "Wall time of each stage of a VideoJob (detect, process, finalize).",
    ["stage"],
    buckets=_DURATION_BUCKETS,
    registry=_registry,
)
SEGMENT_DURATION = Histogram(
    "videojob_segment_duration_seconds",
    "Processing time one segment pod reported in its termination message.",
    buckets=_DURATION_BUCKETS,
    registry=_registry,
)
FRAMES = Counter("videojob_frames_processed_total", "Frames processed by segment pods.", registry=_registry)
FPS = Gauge(
    "videojob_frames_per_second",
    "Frames processed per second of the process stage, per VideoJob.",
    ["namespace", "videojob"],
    registry=_registry,
)
RETRIES = Counter("videojob_segment_retries_total", "Segment pods that failed and were retried.", registry=_registry)
PENDING = Histogram(
    "videojob_pod_pending_seconds",
    "Time a worker pod waited between creation and start (queue time), by stage.",
    ["stage"],
    buckets=_PENDING_BUCKETS,
    registry=_registry,
)
STALLED = Counter(
    "videojob_stalled_segments_total", "Segments whose Redis heartbeat stopped and were restarted.", registry=_registry
)

# ---- per VideoJob, from its .status (see observe_job): a job's series live as long as the VideoJob object does,
# like kube-state-metrics' kube_job_* series; ttlSecondsAfterFinished (or deleting the job) bounds them.
_JOB = ["namespace", "videojob"]
JOB_INFO = Gauge(
    "videojob_job_info", "One per VideoJob, labelled with its phase.", [*_JOB, "phase"], registry=_registry
)
JOB_START = Gauge("videojob_job_start_time_seconds", "When a VideoJob started (Unix time).", _JOB, registry=_registry)
JOB_COMPLETION = Gauge(
    "videojob_job_completion_time_seconds",
    "When a VideoJob ended (Unix time), with its final phase and the reason of its Failed condition.",
    [*_JOB, "phase", "reason"],
    registry=_registry,
)
JOB_PROGRESS = Gauge("videojob_job_progress_percent", "A VideoJob's progress, 0 to 100.", _JOB, registry=_registry)
JOB_FRAMES = Gauge("videojob_job_frames", "A VideoJob's frames, done and total.", [*_JOB, "state"], registry=_registry)
JOB_SEGMENTS = Gauge(
    "videojob_job_segments",
    "A VideoJob's segments: total, succeeded, failed, active.",
    [*_JOB, "state"],
    registry=_registry,
)
JOB_STAGE = Gauge(
    "videojob_job_stage_seconds",
    "Wall time of each finished stage of a VideoJob.",
    [*_JOB, "stage"],
    registry=_registry,
)
FAILURES = Counter(
    "videojob_job_failures_total",
    "VideoJobs that failed while this operator watched, by namespace and the reason of their Failed condition.",
    ["namespace", "reason"],
    registry=_registry,
)
# ---- the operator's own health
OPERATOR_INFO = Gauge("videojob_operator_info", "Always 1; the operator's version.", ["version"], registry=_registry)
API_UP = Gauge(
    "videojob_api_reachable", "1 while the last API server check (readiness) succeeded, else 0.", registry=_registry
)
API_ERRORS = Counter(
    "videojob_api_errors_total",
    "API server calls that failed, by where they were made.",
    ["source"],
    registry=_registry,
)
RECONCILE_ERRORS = Counter(
    "videojob_reconcile_errors_total",
    "Reconciliations of a VideoJob that raised (api: an API call failed; internal: a bug), retried by kopf.",
    ["kind"],
    registry=_registry,
)

_FINISHED = {"Succeeded", "Failed"}
_lock = threading.Lock()
_served: dict[int, object] = {}

# Expose every known label value from the start: a dashboard shows 0, not "No data", before the first job.
for _phase in PHASES:
    JOBS.labels(phase=_phase)
for _stage in STAGES:
    STAGE_DURATION.labels(stage=_stage)
    PENDING.labels(stage=_stage)
for _source in ("reconcile", "readiness"):
    API_ERRORS.labels(source=_source)
for _kind in ("api", "internal"):
    RECONCILE_ERRORS.labels(kind=_kind)
# Per VideoJob (namespace, name): its phase as last seen, and every series set for it (removed with the job).
_phase_of: dict[tuple[str, str], str] = {}
_series: dict[tuple[str, str], set[tuple[Gauge, tuple[str, ...]]]] = {}


def set_phase_counts(counts: dict[str, int]) -> None:
    """Replace the per-phase gauge with `counts` (phases missing from it read 0)."""
    with _lock:
        for phase in set(PHASES) | set(counts):
            JOBS.labels(phase=phase).set(counts.get(phase, 0))
        ACTIVE_JOBS.set(sum(n for phase, n in counts.items() if phase not in _FINISHED))


def observe_stage(stage: str, seconds: float) -> None:
    STAGE_DURATION.labels(stage=stage).observe(max(0.0, seconds))


def observe_segment(seconds: float) -> None:
    SEGMENT_DURATION.observe(max(0.0, seconds))


def add_frames(n: int) -> None:
    if n > 0:
        FRAMES.inc(n)


def set_fps(namespace: str, name: str, fps: float) -> None:
    FPS.labels(namespace, name).set(max(0.0, fps))


def add_retries(n: int) -> None:
    if n > 0:
        RETRIES.inc(n)


def observe_pending(stage: str, seconds: float) -> None:
    PENDING.labels(stage=stage).observe(max(0.0, seconds))


def add_stalled(n: int) -> None:
    if n > 0:
        STALLED.inc(n)


def forget(namespace: str, name: str) -> None:
    """Drop the live series of a finished or deleted VideoJob (its frames per second)."""
    with contextlib.suppress(KeyError):
        FPS.remove(namespace, name)


def _seconds(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    return None


def _failed_reason(status: dict[str, Any]) -> str:
    for c in status.get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            return str(c.get("reason") or "Unknown")
    return "Unknown"


def observe_job(namespace: str, name: str, status: dict[str, Any] | None) -> None:
    """Set a VideoJob's series from its .status (every event of the job: restart-safe, nothing kept but labels).
    A job seen going from an unfinished phase to Failed counts once in videojob_job_failures_total."""
    st = status or {}
    phase = st.get("phase") or "Pending"
    key = (namespace, name)
    with _lock:
        before = _phase_of.get(key)
        if before not in (None, phase):
            _drop(key, JOB_INFO, (namespace, name, before))
        if before not in (None, *_FINISHED) and phase == "Failed":
            FAILURES.labels(namespace=namespace, reason=_failed_reason(st)).inc()
        _phase_of[key] = phase
        _set(key, JOB_INFO, (namespace, name, phase), 1)
        if (start := _seconds(st.get("startTime"))) is not None:
            _set(key, JOB_START, (namespace, name), start)
        if phase in _FINISHED and (end := _seconds(st.get("completionTime"))) is not None:
            reason = _failed_reason(st) if phase == "Failed" else ""
            _set(key, JOB_COMPLETION, (namespace, name, phase, reason), end)
        if isinstance(st.get("progress"), int | float):
            _set(key, JOB_PROGRESS, (namespace, name), st["progress"])
        for metric, values in (
            (JOB_FRAMES, st.get("frames")),
            (JOB_SEGMENTS, st.get("segments")),
            (JOB_STAGE, st.get("stageSeconds")),
        ):
            for label, value in (values or {}).items():
                if isinstance(value, int | float):
                    _set(key, metric, (namespace, name, label), value)


def _set(key: tuple[str, str], metric: Gauge, labels: tuple[str, ...], value: float) -> None:
    metric.labels(*labels).set(value)
    _series.setdefault(key, set()).add((metric, labels))


def _drop(key: tuple[str, str], metric: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
    _series.get(key, set()).discard((metric, labels))


def forget_job(namespace: str, name: str) -> None:
    """Drop every series of a deleted VideoJob."""
    key = (namespace, name)
    with _lock:
        _phase_of.pop(key, None)
        for metric, labels in _series.pop(key, set()):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)
    forget(namespace, name)


def operator_started(version: str) -> None:
    OPERATOR_INFO.labels(version=version).set(1)


def api_check(ok: bool) -> None:
    """The readiness check's result (readiness.py)."""
    API_UP.set(1 if ok else 0)
    if not ok:
        API_ERRORS.labels(source="readiness").inc()


def reconcile_failed(kind: str) -> None:
    """A reconciliation raised: `api` (an API call failed; also counted as an API error) or `internal`."""
    RECONCILE_ERRORS.labels(kind=kind).inc()
    if kind == "api":
        API_ERRORS.labels(source="reconcile").inc()


def serve(port: int, addr: str | None = None) -> None:
    """Serve `/metrics` on `addr:port` from a daemon thread; a second call for the same port does nothing.

    addr defaults to VIDEOJOB_METRICS_ADDR, else every interface (a pod's port; tests use 127.0.0.1)."""
    addr = addr or os.environ.get("VIDEOJOB_METRICS_ADDR") or "0.0.0.0"
    with _lock:
        if port in _served:
            return
        _served[port] = start_http_server(port, addr=addr, registry=_registry)
