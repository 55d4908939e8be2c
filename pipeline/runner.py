"""Local mode: probe → detect → plan → segments in a process pool → finalize, with progress."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .config import JobConfig
from .finalize import FinalReport
from .stages import detect_and_plan, finalize, process_segment

# (stage, key, done, total): stage is "detect", "segment" (key = index) or "finalize".
ProgressSink = Callable[[str, int, int, int], None]

_queue: Any = None


def _init_worker(queue: Any, threads: int) -> None:
    global _queue
    _queue = queue
    # One encoder per process: more threads than cores per worker only adds contention.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _run_segment(input_path: str, workdir: str, index: int) -> dict[str, Any]:
    def report(done: int, total: int) -> None:
        if _queue is not None:
            _queue.put(("segment", index, done, total))

    return process_segment(input_path, workdir, index, on_progress=report).model_dump()


def run_local(
    input_path: Path | str,
    output_path: Path | str,
    config: JobConfig,
    workers: int = 1,
    workdir: Path | str | None = None,
    progress: ProgressSink | None = None,
    keep_workdir: bool = False,
) -> FinalReport:
    input_path, output_path = Path(input_path).resolve(), Path(output_path).resolve()
    own_workdir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="videojob-", dir=output_path.parent)) if workdir is None else Path(workdir)
    sink = progress or (lambda *_: None)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    if config.encode.threads == 0 and workers > 1:
        # Parallel segments each get a share of the cores; oversubscribed encoders only add contention.
        config = config.model_copy(update={"encode": config.encode.model_copy(update={"threads": threads})})
    try:
        plan = detect_and_plan(input_path, work, config, on_progress=lambda d, t: sink("detect", 0, d, t))
        ctx = multiprocessing.get_context("spawn")
        with (
            ctx.Manager() as manager,
            ProcessPoolExecutor(
                max_workers=max(1, workers),
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(queue := manager.Queue(), threads),
            ) as pool,
        ):
            futures = [pool.submit(_run_segment, str(input_path), str(work), s.index) for s in plan.segments]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                while not queue.empty():
                    sink(*queue.get_nowait())
                for f in done:
                    if f.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise f.exception()  # type: ignore[misc]
                    result = f.result()
                    if result["skipped"]:  # resumed: no frames were decoded, so no progress was reported
                        sink("segment", result["index"], result["frames"], result["frames"])
            while not queue.empty():
                sink(*queue.get_nowait())
        report = finalize(input_path, work, output_path, on_progress=lambda d, t: sink("finalize", 0, d, t))
        sink("finalize", 0, report.frames_out, report.frames_out)
        return report
    finally:
        if own_workdir and not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
