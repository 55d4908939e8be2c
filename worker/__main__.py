"""python -m videojob.worker detect|segment|pool|finalize|cleanup: one stage of a VideoJob, configured by env (contracts.md).

Exit codes: 0 done; 2 bad input (the Job fails the index, no retry); 75 transient; 143 stopped by SIGTERM;
1 anything else (retried). The termination message is the stage's JSON summary, or {"error": "...", "kind": "..."}
on failure.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_TERMINATED = 128 + signal.SIGTERM
STAGES = ("detect", "finalize", "segment", "pool", "cleanup")


class Terminated(BaseException):
    """SIGTERM (the pod deleted, evicted or preempted). A BaseException, so that a stage's `except Exception`
    cannot swallow it while the `finally` and context managers on the way up still remove temp files."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


# In a container the worker is PID 1, and the kernel delivers no signal to PID 1 that it has no handler for:
# without one, kubelet's SIGTERM is dropped and the pod runs on until the grace period's SIGKILL. Installed before
# the heavy imports below (av, numpy, torch: seconds), so that a pod evicted while starting stops too.
if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

from . import termination  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videojob.worker", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=STAGES)
    args = parser.parse_args(argv)
    try:
        from videojob.pipeline.errors import VideoJobError  # what a stage raises for a known problem
    except Terminated:
        return _terminated(args.stage)
    try:
        from .environment import read_env
        from .stages import RUN

        summary = RUN[args.stage](read_env(args.stage))
    except Terminated:
        return _terminated(args.stage)
    except VideoJobError as e:
        termination.write({"error": str(e), "kind": e.kind})
        print(f"videojob-worker {args.stage}: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # an unexpected fault: keep the traceback in the log, one line in the message
        traceback.print_exc()
        line = " ".join(f"{type(e).__name__}: {e}".split())
        termination.write({"error": line, "kind": "internal"})
        return 1
    termination.write(summary)
    return 0


def _terminated(stage: str) -> int:
    termination.write({"error": "stopped by SIGTERM (pod deleted, evicted or preempted)", "kind": "terminated"})
    print(f"videojob-worker {stage}: stopped by SIGTERM", file=sys.stderr)
    return EXIT_TERMINATED


if __name__ == "__main__":
    code = main()
    if code == EXIT_TERMINATED:
        # Stage threads (decode, encode) may still run: do not wait for them at interpreter exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
