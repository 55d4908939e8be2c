"""Local mode: probe → detect → plan → segments in a process pool → finalize, with progress."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from queue import Empty
from typing import Any

from .config import JobConfig
from .container import check_output_place
from .errors import BadInputError
from .finalize import FinalReport
from .guard import refuse_output_over_input
from .objectstore import Media, ObjectURL, as_media
from .stages import detect_and_plan, finalize, process_segment

# (stage, key, done, total): stage is "detect", "segment" (key = index) or "finalize".
ProgressSink = Callable[[str, int, int, int], None]

_queue: Any = None


def _init_worker(queue: Any, threads: int) -> None:
    global _queue
    _queue = queue
    # One encoder per process: more threads than cores per worker only adds contention.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _run_segment(input_path: str, workdir: str, index: int, threads: int) -> dict[str, Any]:
    def report(done: int, total: int) -> None:
        if _queue is not None:
            _queue.put(("segment", index, done, total))

    return process_segment(input_path, workdir, index, on_progress=report, threads=threads).model_dump()


def _direct(sink: ProgressSink, index: int) -> Callable[[int, int], None]:
    return lambda done, total: sink("segment", index, done, total)


def _run_pool(
    input_path: Media, work: Path, indexes: list[int], workers: int, threads: int, sink: ProgressSink
) -> None:
    """Segments in a pool of spawned processes; progress comes back through a queue handed over at start."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(queue, threads)
    ) as pool:
        pending = {pool.submit(_run_segment, str(input_path), str(work), i, threads) for i in indexes}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                _drain(queue, sink)
                for f in done:
                    error = f.exception()
                    if error is not None:
                        raise error
                    result = f.result()
                    sink("segment", result["index"], result["frames"], result["frames"])
        finally:
            for f in pending:
                f.cancel()
    _drain(queue, sink)
    queue.close()


def _drain(queue: Any, sink: ProgressSink) -> None:
    while True:
        try:
            item = queue.get_nowait()
        except Empty:
            return
        sink(*item)


def auto_workers() -> int:
    """Worker processes for `--workers auto`: one per two cores, each encoder given two threads. x264 and the
    decoder use a second thread well, where a pool of one-thread workers on two cores was measured 5-9 % slower
    than one worker (process start, imports and a plan read per worker, and the encoder's lookahead past each
    segment's end, all paid again); a bigger machine still gets a worker per two cores."""
    return max(1, (os.cpu_count() or 1) // 2)


def pool_size(workers: int | None, segments: int) -> int:
    """Worker processes for `segments` segments: `workers` (None: auto_workers()), never more than segments."""
    wanted = workers if workers is not None else auto_workers()
    return max(1, min(wanted, segments))


def prepare_workdir(workdir: Path | str | None, output_path: Path | None) -> Path:
    """The given work directory (made when missing), or a fresh one next to the output (in the system's temp
    directory for an object output, which finalize uploads from there)."""
    try:
        if workdir is None:
            return Path(tempfile.mkdtemp(prefix="videojob-", dir=output_path.parent if output_path else None))
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
        return work
    except OSError as exc:
        where = workdir if workdir is not None else output_path.parent if output_path else tempfile.gettempdir()
        reason = "it is a file, not a directory" if isinstance(exc, FileExistsError) else exc.strerror
        raise BadInputError(f"work directory {where} cannot be used ({reason}); give --workdir a directory") from exc


def _resolved(media: Path | str | ObjectURL) -> Media:
    found = as_media(media)
    return found.resolve() if isinstance(found, Path) else found


def run_local(
    input_path: Path | str | ObjectURL,
    output_path: Path | str | ObjectURL,
    config: JobConfig,
    workers: int | None = 1,
    segments: int | None = None,
    workdir: Path | str | None = None,
    progress: ProgressSink | None = None,
    keep_workdir: bool = False,
) -> FinalReport:
    """`workers`: processes for the segments, None for auto (one per core); never more than there are segments.
    Input and output may be files or `s3://bucket/key` objects (objectstore)."""
    # Before resolving: a symbolic link given as the output is reported as one.
    refuse_output_over_input(input_path, output_path)
    source, target = _resolved(input_path), _resolved(output_path)
    check_output_place(target, config.encode.codec, source)
    own_workdir = workdir is None
    work = prepare_workdir(workdir, target if isinstance(target, Path) else None)
    if segments is not None:  # a count given here wins over the config's (None: the config decides)
        seg_cfg = config.segmentation.model_copy(update={"segments": segments})
        config = config.model_copy(update={"segmentation": seg_cfg})
    sink = progress or (lambda *_: None)
    try:
        plan = detect_and_plan(source, work, config, on_progress=lambda d, t: sink("detect", 0, d, t))
        pool = pool_size(workers, len(plan.segments))
        # Parallel segments each get a share of the cores; oversubscribed encoders only add contention. A share is
        # a run-time choice, not part of the plan: a resumed job may run with another number of workers.
        threads = config.encode.threads or (max(1, (os.cpu_count() or 1) // pool) if pool > 1 else 0)
        if pool == 1:
            # One worker gains nothing from a pool: no process to spawn, no pipeline to import twice.
            for s in plan.segments:
                result = process_segment(source, work, s.index, on_progress=_direct(sink, s.index))
                sink("segment", s.index, result.frames, result.frames)
        else:
            _run_pool(source, work, [s.index for s in plan.segments], pool, threads, sink)
        report = finalize(source, work, target, on_progress=lambda d, t: sink("finalize", 0, d, t))
        sink("finalize", 0, report.frames_out, report.frames_out)
        return report
    finally:
        if own_workdir and not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
