"""Container entrypoint: `python -m videojob.worker detect|segment|finalize`.

Everything comes from the environment (see docs/contracts.md). The result, or the one-line error, goes to the
termination message as one line of JSON; the exit code says whether a retry can help (2: bad input, 75: transient).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

STAGES = ("detect", "segment", "finalize")
MESSAGE_LIMIT = 4096


def write_message(data: dict[str, Any]) -> None:
    text = json.dumps(data, separators=(",", ":"))[:MESSAGE_LIMIT]
    path = Path(os.environ.get("VIDEOJOB_TERMINATION_LOG", "/dev/termination-log"))
    try:
        path.write_text(text)
    except OSError:
        pass  # outside a pod there may be no such file; the line below still reaches the log
    print(text, flush=True)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        from videojob.pipeline.errors import BadInputError

        raise BadInputError(f"environment variable {name} is not set")
    return value


def run(stage: str) -> dict[str, Any]:
    from videojob.pipeline.config import JobConfig
    from videojob.pipeline.stages import detect_and_plan, finalize, process_segment

    from .progress import reporter_from_env

    input_path, workdir = Path(env("VIDEOJOB_INPUT")), Path(env("VIDEOJOB_WORKDIR"))
    started = time.monotonic()
    if stage == "detect":
        plan = detect_and_plan(input_path, workdir, JobConfig.model_validate_json(env("VIDEOJOB_CONFIG")))
        info = plan.probe
        return {"segments": len(plan.segments), "frames": info.frames, "fps": round(info.fps, 3),
                "width": info.width, "height": info.height, "regions": plan.frames_with_regions,
                "seconds": round(time.monotonic() - started, 3)}
    if stage == "segment":
        index = int(env("JOB_COMPLETION_INDEX"))
        reporter = reporter_from_env(index)
        try:
            result = process_segment(input_path, workdir, index, on_progress=reporter.update)
            reporter.update(result.frames, result.frames)
        finally:
            reporter.close()
        return {"index": index, "frames": result.frames, "seconds": result.seconds, "skipped": result.skipped,
                "encoder": result.encoder}
    report = finalize(input_path, workdir, Path(env("VIDEOJOB_OUTPUT")))
    return {"output": report.output, "bytes": report.bytes, "frames": report.frames_out,
            "duration": round(report.duration, 3), "encoder": report.encoder}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in STAGES:
        print(f"usage: python -m videojob.worker {'|'.join(STAGES)}", file=sys.stderr)
        return 2
    from pydantic import ValidationError

    from videojob.pipeline.errors import VideoJobError

    try:
        write_message(run(args[0]))
        return 0
    except VideoJobError as exc:
        write_message({"error": str(exc), "kind": exc.kind})
        return exc.exit_code
    except ValidationError as exc:
        err = exc.errors()[0]
        write_message({"error": f"config {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", "kind": "bad-input"})
        return 2
    except Exception as exc:  # an unexpected failure: retryable, with the trace in the log
        traceback.print_exc()
        write_message({"error": f"{exc.__class__.__name__}: {' '.join(str(exc).split())}"[:500], "kind": "internal"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
