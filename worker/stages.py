"""Each stage: call the pipeline, return the compact summary that becomes the termination message."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from videojob.pipeline import stages
from videojob.pipeline.container import check_output_place
from videojob.pipeline.guard import refuse_output_over_input

from .cleanup import remove_workdir
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


def process_start_epoch() -> float | None:
    """When this process started (wall clock), from /proc: in a container, the moment the runtime started it."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks after boot
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


class Timings:
    """Wall-clock marks of a stage's start-up, for the termination message (bench/bench_node.py reads them):
    process start, stage start (interpreter and imports done), for segments the first frames written, and the end."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        started = process_start_epoch()
        if started is not None:
            self.marks["process"] = started
        self.mark("stage")

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.time())

    def summary(self) -> dict[str, float]:
        """The marks so far plus `end` (now: the stage's work is done), from which the operator takes the
        stage's seconds."""
        self.mark("end")
        return {k: round(v, 3) for k, v in self.marks.items()}


def detect(env: WorkerEnv) -> dict[str, Any]:
    timings = Timings()
    config = env.config()
    if env.output is not None:  # before the work directory exists: a job that would destroy its input writes nothing
        refuse_output_over_input(env.input, env.output)
        # An output that can never be written (a directory, no muxer for its suffix, a read-only folder) fails here,
        # as bad input, before any segment runs: finalize would only find out after every GPU-second was spent.
        check_output_place(env.output, config.encode.codec, env.input, volume=env.output_volume)
    # This pod may have no GPU while the segment pods have one: encoder auto is left to them unless NVENC works here.
    plan = stages.detect_and_plan(env.input, env.workdir, config, pin_encoder_here=False)
    return {
        "timings": timings.summary(),
        "segments": len(plan.segments),
        "frames": plan.probe.frames,
        "fps": round(plan.probe.fps, 3),
        "width": plan.probe.width,
        "height": plan.probe.height,
        "regions": plan.frames_with_regions,
    }


def segment(env: WorkerEnv) -> dict[str, Any]:
    assert env.index is not None
    timings = Timings()
    with progress_reporter(env, env.index) as report:

        def on_progress(frames: int, total: int) -> None:
            if frames > 0:
                timings.mark("first_frames")  # the first progress call after frames were written (every 10)
            if report is not None:
                report(frames, total)

        result = stages.process_segment(env.input, env.workdir, env.index, on_progress=on_progress)
    return {
        "index": result.index,
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "skipped": result.skipped,
        "timings": timings.summary(),
    }


def finalize(env: WorkerEnv) -> dict[str, Any]:
    assert env.output is not None
    timings = Timings()
    report = stages.finalize(env.input, env.workdir, env.output)
    if not env.keep_workdir:
        # The last act, after the output is in place: the segments and the plan are a second copy of the output.
        remove_workdir(env.workdir, env.output_volume)
    return {
        "timings": timings.summary(),
        "output": report.output,
        "bytes": report.bytes,
        "frames": report.frames_out,
        "duration": round(report.duration, 3),
    }


def cleanup(env: WorkerEnv) -> dict[str, Any]:
    """The work directory of a failed VideoJob, removed (the operator runs this stage once the job has failed)."""
    return {"workdir": str(env.workdir), "removed": remove_workdir(env.workdir, env.output_volume)}


def pool(env: WorkerEnv) -> dict[str, Any]:
    """Warm worker: claims segment after segment from the work directory (pool.py, which builds on this module)."""
    from .pool import pool as run_pool

    return run_pool(env)


RUN: dict[str, Callable[[WorkerEnv], dict[str, Any]]] = {
    "detect": detect,
    "segment": segment,
    "pool": pool,
    "finalize": finalize,
    "cleanup": cleanup,
}
