"""The operator's Prometheus metrics (prometheus-client), served on `/metrics` by `serve(port)`.

Names follow the Prometheus conventions: base units (`_seconds`), counters end in `_total`.
The controller records through the small functions below so that the metric objects stay private
and a test can drive the same public surface the operator uses.
"""

from __future__ import annotations

import contextlib
import os
import threading

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
    ["namespace", "name"],
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

_FINISHED = {"Succeeded", "Failed"}
_lock = threading.Lock()
_served: dict[int, object] = {}

# Expose every known label value from the start: a dashboard shows 0, not "No data", before the first job.
for _phase in PHASES:
    JOBS.labels(phase=_phase)
for _stage in STAGES:
    STAGE_DURATION.labels(stage=_stage)
    PENDING.labels(stage=_stage)


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
    FPS.labels(namespace=namespace, name=name).set(max(0.0, fps))


def add_retries(n: int) -> None:
    if n > 0:
        RETRIES.inc(n)


def observe_pending(stage: str, seconds: float) -> None:
    PENDING.labels(stage=stage).observe(max(0.0, seconds))


def add_stalled(n: int) -> None:
    if n > 0:
        STALLED.inc(n)


def forget(namespace: str, name: str) -> None:
    """Drop the per-job series of a finished or deleted VideoJob (bounded label cardinality)."""
    with contextlib.suppress(KeyError):
        FPS.remove(namespace, name)


def serve(port: int, addr: str | None = None) -> None:
    """Serve `/metrics` on `addr:port` from a daemon thread; a second call for the same port does nothing.

    addr defaults to VIDEOJOB_METRICS_ADDR, else every interface (a pod's port; tests use 127.0.0.1)."""
    addr = addr or os.environ.get("VIDEOJOB_METRICS_ADDR") or "0.0.0.0"
    with _lock:
        if port in _served:
            return
        _served[port] = start_http_server(port, addr=addr, registry=_registry)
