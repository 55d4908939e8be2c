"""Prometheus metrics of the operator (prometheus-client), served on their own port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from .api import PHASES

JOBS = Gauge("videojob_jobs", "VideoJobs by phase", ["phase"])
ACTIVE = Gauge("videojob_active_jobs", "VideoJobs not yet Succeeded or Failed")
STAGE_SECONDS = Histogram("videojob_stage_duration_seconds", "Seconds per stage of a VideoJob", ["stage"],
                          buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200))
SEGMENT_SECONDS = Histogram("videojob_segment_duration_seconds", "Seconds one segment pod ran",
                            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800))
FRAMES = Counter("videojob_frames_processed_total", "Frames written by finished segments")
FPS = Gauge("videojob_frames_per_second", "Frames per second of a running VideoJob", ["namespace", "name"])
RETRIES = Counter("videojob_segment_retries_total", "Segment pods that failed and were retried")
PENDING = Histogram("videojob_pod_pending_seconds", "Seconds a worker pod waited to start (queue time)", ["stage"],
                    buckets=(0.5, 1, 5, 15, 30, 60, 300, 900, 3600))
STALLED = Counter("videojob_stalled_segments_total", "Segment pods deleted because their heartbeat stopped")


def set_phase_counts(counts: dict[str, int]) -> None:
    for phase in PHASES:
        JOBS.labels(phase=phase).set(counts.get(phase, 0))
    ACTIVE.set(sum(n for p, n in counts.items() if p not in ("Succeeded", "Failed")))


def observe_stage(stage: str, seconds: float) -> None:
    STAGE_SECONDS.labels(stage=stage).observe(max(0.0, seconds))


def observe_segment(seconds: float) -> None:
    SEGMENT_SECONDS.observe(max(0.0, seconds))


def add_frames(n: int) -> None:
    if n > 0:
        FRAMES.inc(n)


def set_fps(namespace: str, name: str, fps: float) -> None:
    FPS.labels(namespace=namespace, name=name).set(fps)


def add_retries(n: int) -> None:
    if n > 0:
        RETRIES.inc(n)


def observe_pending(stage: str, seconds: float) -> None:
    PENDING.labels(stage=stage).observe(max(0.0, seconds))


def add_stalled(n: int) -> None:
    if n > 0:
        STALLED.inc(n)


def forget(namespace: str, name: str) -> None:
    try:
        FPS.remove(namespace, name)
    except KeyError:
        pass


def serve(port: int, addr: str = "0.0.0.0") -> None:
    start_http_server(port, addr=addr)
