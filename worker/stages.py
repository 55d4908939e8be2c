"""Each stage: call the pipeline, return the compact summary that becomes the termination message."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from videojob.pipeline import stages

from .environment import WorkerEnv

ProgressFn = Callable[[int, int], None]


@contextmanager
def progress_reporter(env: WorkerEnv, index: int) -> Iterator[ProgressFn | None]:
    """Redis progress when VIDEOJOB_REDIS_URL is set; a worker never fails because of Redis."""
    url = env.redis_url
    if not url:
        yield None
        return
    try:
        from .progress import RedisReporter
    except ImportError as e:  # the image was built without redis: progress is optional
        print(f"videojob-worker: no progress reporting ({e})", file=sys.stderr)
        yield None
        return
    reporter: Any = None

    def update(frames: int, total: int) -> None:
        nonlocal reporter
        if reporter is None:
            reporter = RedisReporter(url, env.job_key, index, total)
        reporter.update(frames)

    try:
        yield update
    finally:
        if reporter is not None:
            reporter.close()


def detect(env: WorkerEnv) -> dict[str, Any]:
    plan = stages.detect_and_plan(env.input, env.workdir, env.config())
    return {
        "segments": len(plan.segments),
        "frames": plan.probe.frames,
        "fps": round(plan.probe.fps, 3),
        "width": plan.probe.width,
        "height": plan.probe.height,
        "regions": plan.frames_with_regions,
    }


def segment(env: WorkerEnv) -> dict[str, Any]:
    assert env.index is not None
    with progress_reporter(env, env.index) as on_progress:
        result = stages.process_segment(env.input, env.workdir, env.index, on_progress=on_progress)
    return {
        "index": result.index,
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "skipped": result.skipped,
    }


def finalize(env: WorkerEnv) -> dict[str, Any]:
    assert env.output is not None
    report = stages.finalize(env.input, env.workdir, env.output)
    return {
        "output": report.output,
        "bytes": report.bytes,
        "frames": report.frames_out,
        "duration": round(report.duration, 3),
    }


RUN: dict[str, Callable[[WorkerEnv], dict[str, Any]]] = {"detect": detect, "segment": segment, "finalize": finalize}
