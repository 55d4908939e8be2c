"""python -m videojob.worker detect|segment|finalize: one stage of a VideoJob, configured by env (contracts.md).

Exit codes: 0 done; 2 bad input (the Job fails the index, no retry); 75 transient; 1 anything else (retried).
The termination message is the stage's JSON summary, or {"error": "...", "kind": "..."} on failure.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from videojob.pipeline.errors import VideoJobError

from . import termination
from .environment import read_env
from .stages import RUN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m videojob.worker", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=sorted(RUN))
    args = parser.parse_args(argv)
    try:
        summary = RUN[args.stage](read_env(args.stage))
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
    sys.exit(main())
