"""python -m videojob.worker detect|segment|finalize: one stage of a VideoJob, configured by env (contracts.md).

Exit codes: 0 done; 2 bad input (the Job fails the index, no retry); 75 transient; 143 stopped by SIGTERM;
1 anything else (retried). The termination message is the stage's JSON summary, or {"error": "...", "kind": "..."}
on failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from types import FrameType

from videojob.pipeline.errors import VideoJobError

from . import termination
from .environment import read_env
from .stages import RUN

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM (the pod deleted, evicted or preempted). A BaseException, so that a stage's `except Exception`
    cannot swallow it while the `finally` and context managers on the way up still remove temp files."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    # In a container the worker is PID 1, and the kernel delivers no signal to PID 1 that it has no handler for:
    # without this, kubelet's SIGTERM is ignored and the pod runs on until the grace period's SIGKILL.
    signal.signal(signal.SIGTERM, _on_sigterm)
    parser = argparse.ArgumentParser(prog="python -m videojob.worker", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=sorted(RUN))
    args = parser.parse_args(argv)
    try:
        summary = RUN[args.stage](read_env(args.stage))
    except Terminated:
        termination.write({"error": "stopped by SIGTERM (pod deleted, evicted or preempted)", "kind": "terminated"})
        print(f"videojob-worker {args.stage}: stopped by SIGTERM", file=sys.stderr)
        return EXIT_TERMINATED
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


if __name__ == "__main__":
    code = main()
    if code == EXIT_TERMINATED:
        # Stage threads (decode, encode) may still run: do not wait for them at interpreter exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
