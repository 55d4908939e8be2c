"""Planning at scale, printed as JSON: a 4-hour video at a tiny size, probed and planned as the detect pod does it.

The video: one minute of FFmpeg's testsrc at 64x36 (libx264 ultrafast, a keyframe every 2 s) looped with stream
copy until it lasts --hours (FFmpeg rewrites the timestamps, so it demuxes as one long stream): seconds to make, and
every packet a real one. Measured in this process: probe seconds (demux only), plan seconds (detect_and_plan: probe,
cuts from packets, boundaries, plan.json + frames.npz written), reading the plan back (what every segment pod does),
plan.json and sidecar sizes, peak memory (ru_maxrss) and, with --finalize, the whole job with `--op none`
(segments in a pool, then finalize: its seconds alone are reported too). Targets: plan.json under 1 MB, planning
in seconds (no decode).

    .venv/bin/python bench/bench_plan.py [--hours 4] [--fps 60] [--segments 1000] [--finalize]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from videojob.pipeline.config import JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.detect import DetectorConfig, NormRegion
from videojob.pipeline.frameindex import SIDECAR
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.probe import probe
from videojob.pipeline.stages import detect_and_plan

SIZE = "64x36"


def make_long_clip(path: Path, hours: float, fps: int) -> float:
    """A `hours`-long clip from a one-minute one, looped by stream copy; returns the seconds it took."""
    started = time.perf_counter()
    base = path.with_name("base.mp4")
    ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    source = f"testsrc=size={SIZE}:rate={fps}:duration=60"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(2 * fps), "-pix_fmt", "yuv420p"]
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", source, *encode, str(base)], check=True)
    loops = max(1, round(hours * 60)) - 1
    subprocess.run([*ffmpeg, "-stream_loop", str(loops), "-i", str(base), "-c", "copy", str(path)], check=True)
    base.unlink()
    return round(time.perf_counter() - started, 3)


def job_config(segments: int) -> JobConfig:
    return JobConfig(
        detector=DetectorConfig(kind="static", regions=[NormRegion(x=0.25, y=0.25, w=0.25, h=0.25)]),
        operation=OperationConfig(kind="blur"),
        segmentation=SegmentationConfig(segments=segments, max_segments=max(64, segments)),
    )


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def whole_job(clip: Path, out: Path, work: Path, segments: int) -> dict[str, float]:
    """The job with `--op none` (decode and encode every frame) in a pool; the report's stage seconds."""
    exe = Path(sys.executable).with_name("videojob")
    command = [str(exe), "run", str(clip), "-o", str(out), "--workdir", str(work), "--op", "none"]
    command += ["--segments", str(segments), "--encoder", "software", "--preset", "ultrafast"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = json.loads((work / "report.json").read_text())["seconds"]
    return {**seconds, "wall": round(time.perf_counter() - started, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--fps", type=int, default=60)
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--finalize", action="store_true", help="also run the whole job (--op none) and finalize")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed (make system-deps, or apt-get install -y ffmpeg)")
    scratch = Path(tempfile.mkdtemp(prefix="vj-bench-plan-"))
    try:
        clip, work = scratch / "long.mp4", scratch / "work"
        made = make_long_clip(clip, args.hours, args.fps)
        info, probe_seconds = timed(lambda: probe(clip))
        plan, plan_seconds = timed(lambda: detect_and_plan(clip, work, job_config(args.segments)))
        _, read_seconds = timed(lambda: SegmentPlan.read(work))
        report: dict[str, Any] = {
            "video": {
                "size": SIZE,
                "fps": args.fps,
                "frames": info.frames,
                "hours": round(info.duration / 3600, 3),
                "keyframes": len(info.keyframes),
                "bytes": clip.stat().st_size,
                "made_seconds": made,
            },
            "segments": len(plan.segments),
            "probe_seconds": probe_seconds,
            "plan_seconds": plan_seconds,  # detect_and_plan: probe included
            "plan_read_seconds": read_seconds,  # SegmentPlan.read with its sidecar, as every segment pod does
            "plan_json_bytes": (work / "plan.json").stat().st_size,
            "sidecar_bytes": (work / SIDECAR).stat().st_size,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpus": os.cpu_count(),
        }
        if args.finalize:
            report["job_seconds"] = whole_job(clip, scratch / "out.mp4", scratch / "job", args.segments)
        report["targets"] = {"plan_json_bytes": 1_000_000}
        report["met"] = {"plan_json_bytes": report["plan_json_bytes"] < 1_000_000}
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
