"""What the operator does once, when a VideoJob ends: nothing of it is left behind.

- the output's Lease is given up (outputlock.py), so that the next writer of that file may start;
- the Redis progress keys are deleted (they would otherwise live out their day);
- after a failure, unless spec.keepWorkdir, a cleanup Job removes the work directory (after success, finalize
  removed it as its last act).

Every part is idempotent (create-if-absent, delete-if-ours): a tick whose status write was lost does it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import outputlock, progress
from .builders import ChildContext
from .builders.stages import build_cleanup_job
from .kube import ChildRefusedError, Kube


@dataclass(frozen=True)
class Ended:
    released: bool  # the output's Lease was ours and is deleted now
    keys_deleted: int | None  # Redis progress keys deleted; None: no Redis, or unreachable
    cleanup_job: bool  # a cleanup Job was created now
    cleanup_refused: str | None = None  # the API server's reason when it refused the cleanup Job


def on_end(
    kube: Kube, ctx: ChildContext, phase: str, total_segments: int, redis_url: str | None, workdir_made: bool
) -> Ended:
    """`workdir_made`: the detect Job was started, so a work directory may exist to remove."""
    released = outputlock.release(kube, ctx)
    keys = progress.delete_progress(redis_url, ctx.job_key, total_segments) if redis_url and total_segments else None
    cleanup, refused = False, None
    if phase == "Failed" and workdir_made and not ctx.spec.keep_workdir:
        try:
            cleanup = kube.create(build_cleanup_job(ctx))
        except ChildRefusedError as e:  # the spec's pod fields refused (they failed the job too): say so, once
            refused = str(e)
    return Ended(released, keys, cleanup, refused)
