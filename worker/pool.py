"""The pool stage: a warm worker that loads its imports and the detector once, then claims segment after segment
from the shared work directory (claims.py) until none is left to claim. P such pods do the work of the segment
Job in pool mode: pod start, imports and model load are paid P times, not once per segment."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from videojob.pipeline import stages
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.segment import trusted_result
from videojob.pipeline.segmentdetect import shared_detector

from .claims import STALE_SECONDS, Claim, Claimer, Heartbeat, Refused
from .environment import WorkerEnv
from .stages import Timings, progress_reporter

WAIT_SECONDS = 1.0  # between looks at segments other workers hold


def holder_name() -> str:
    """The pod's name (VIDEOJOB_POD_NAME, from the downward API: an Indexed Job's pod's hostname is `<job>-<index>`,
    the same for a slot's replacement) and the process, so that a restarted container differs."""
    pod = os.environ.get("VIDEOJOB_POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{pod}/{os.getpid()}"


def scan_order(total: int, slot: int, slots: int) -> Iterator[int]:
    """Every index once, each worker starting at its own share: P workers do not all race for segment 0."""
    start = (slot * total // slots) if slots else 0
    return ((start + i) % total for i in range(total))


class PoolRun:
    def __init__(self, env: WorkerEnv, plan: SegmentPlan) -> None:
        self.env, self.plan = env, plan
        # VIDEOJOB_CLAIM_STALE_SECONDS: the heartbeat age that makes a claim a dead worker's (tests shorten it).
        stale = float(os.environ.get("VIDEOJOB_CLAIM_STALE_SECONDS") or STALE_SECONDS)
        self.claimer = Claimer(env.workdir, holder_name(), env.retries, timeout=stale)
        self.digest = plan.digest(env.workdir)
        self.done: list[int] = []
        self.skipped = 0
        self.frames = 0
        self.compute = 0.0  # seconds in process_segment, the segment compute
        self.last_end: float | None = None  # wall clock when this worker's last segment was done

    def finished(self, index: int) -> bool:
        # Size only: process_segment checks the checksum again before it trusts a result.
        found, _ = trusted_result(self.env.workdir, self.plan.segments[index], self.digest, hash_media=False)
        return found is not None

    def one_pass(self) -> tuple[bool, bool]:
        """One look at every segment, claiming and processing what is free: (one was processed, one is still
        held by another worker)."""
        worked = held = False
        slots = self.env.slots or 1
        for index in scan_order(len(self.plan.segments), self.env.index or 0, slots):
            if self.finished(index):
                continue
            got = self.claimer.try_claim(index)
            if isinstance(got, Refused):
                raise BadInputError(f"segment {index}: {got.error}")
            if got is None:
                held = True
                continue
            self.run(index, got)
            worked = True
        return worked, held

    def run(self, index: int, claim: Claim) -> None:
        started = time.monotonic()
        try:
            with Heartbeat(self.claimer, index, claim), progress_reporter(self.env, index) as report:
                result = stages.process_segment(self.env.input, self.env.workdir, index, on_progress=report)
        except BadInputError as e:
            self.claimer.release(index, claim, error=str(e), bad=True)
            raise BadInputError(f"segment {index}: {e}") from None
        except Exception as e:  # counted; this or another worker retries it until the retries are spent
            line = " ".join(f"{type(e).__name__}: {e}".split())
            self.claimer.release(index, claim, error=line, failed=True)
            print(f"videojob-worker pool: segment {index} failed, released for a retry: {line}", flush=True)
            return
        except BaseException:  # SIGTERM: given back at once, no attempt counted
            self.claimer.release(index, claim, error="stopped by SIGTERM")
            raise
        self.claimer.finish(index)
        self.compute += time.monotonic() - started
        self.last_end = time.time()
        if result.skipped:
            self.skipped += 1
        else:
            self.done.append(index)
            self.frames += result.frames


def pool(env: WorkerEnv) -> dict[str, Any]:
    timings = Timings()
    plan = SegmentPlan.read(env.workdir)
    cfg = plan.config
    if cfg.detector.kind != "none" and cfg.operation.kind != "none":
        shared_detector(cfg.detector)  # the model loads once, here, for every segment this pod takes
    timings.mark("model")
    run = PoolRun(env, plan)
    while True:
        worked, held = run.one_pass()
        if not worked and not held:
            break  # every segment is finished
        if not worked:
            # The rest is held by other workers: stay until they finish it, to take over a dead one's claim. A worker
            # that left here instead would let the Job complete (every slot done) with that segment missing.
            time.sleep(WAIT_SECONDS)
    if run.last_end is not None:  # how long it then waited for the others' last segments (bench/bench_pool.py)
        timings.marks["last_segment"] = run.last_end
    return {
        "slot": env.index,
        "segments": len(run.done),
        "skipped": run.skipped,
        "first": run.done[:1],
        "frames": run.frames,
        "seconds": round(run.compute, 3),
        "timings": timings.summary(),
    }
