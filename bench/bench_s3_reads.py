"""What each stage downloads from object storage, printed as JSON: bytes sent by a real S3 server (SeaweedFS,
tests/support/s3_server.py) to detect and to each segment, against the object's size and each segment's share.

The bytes are counted at the server's side of a loopback TCP relay (support.s3_server.ByteCounter), so they include
read-ahead, headers, the container index, retries: all that crossed the wire. Needs `weed` (make s3server).

    .venv/bin/python bench/bench_s3_reads.py [--seconds 60] [--segments 8] [--size 1280x720] [--crf 20]

The clip is made by the ffmpeg command line (testsrc2 and a tone, x264 + AAC, interleaved as ffmpeg muxes them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.s3_server import ByteCounter, S3Server, weed_binary
from videojob.pipeline.config import EncodeConfig, JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.detect import DetectorConfig, NormRegion
from videojob.pipeline.stages import detect_and_plan, finalize, process_segment


def job_config(segments: int) -> JobConfig:
    return JobConfig(
        detector=DetectorConfig(kind="static", regions=[NormRegion(x=0.1, y=0.1, w=0.2, h=0.2)]),
        operation=OperationConfig(kind="blur"),
        segmentation=SegmentationConfig(segments=segments, min_frames_per_segment=4),
        encode=EncodeConfig(preset="ultrafast"),
    )


def measure(server: S3Server, url: str, work: Path, segments: int, size: int) -> dict[str, Any]:
    counter = ByteCounter(server.port)
    os.environ.update(server.env(endpoint=counter.endpoint))
    try:
        plan = detect_and_plan(url, work, job_config(segments))
        detect_bytes = counter.to_client
        rows = []
        for seg in plan.segments:
            counter.reset()
            process_segment(url, work, seg.index)
            share = size * (seg.end - seg.start) / plan.probe.frames
            rows.append(
                {
                    "index": seg.index,
                    "frames": seg.end - seg.start,
                    "bytes_read": counter.to_client,
                    "read_over_share": round(counter.to_client / share, 3),
                }
            )
        counter.reset()
        finalize(url, work, work.parent / "out.mp4")
        finalize_bytes = counter.to_client
    finally:
        counter.close()
    read = [r["bytes_read"] for r in rows]
    return {
        "object_bytes": size,
        "detect_bytes_read": detect_bytes,
        "segments": rows,
        "finalize_bytes_read": finalize_bytes,  # the source's audio, for the output
        "max_segment_over_object": round(max(read) / size, 3),
        "all_segments_over_object": round(sum(read) / size, 3),
    }


def make_clip(path: Path, size: str, seconds: int, crf: int) -> Path:
    video = f"testsrc2=size={size}:rate=24:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", "48", "-c:a", "aac"]
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio]
    subprocess.run([*command, *encode, str(path)], check=True, timeout=900)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--crf", type=int, default=20)
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed (make system-deps, or apt-get install -y ffmpeg)")
    scratch = Path(tempfile.mkdtemp(prefix="vj-bench-s3-"))
    server = S3Server(weed_binary(), scratch)
    try:
        server.start()
        clip = make_clip(scratch / "in.mp4", args.size, args.seconds, args.crf)
        server.client().fput_object(server.bucket, "in.mp4", str(clip))
        report = measure(server, f"s3://{server.bucket}/in.mp4", scratch / "work", args.segments, clip.stat().st_size)
        report["video"] = {"size": args.size, "seconds": args.seconds, "crf": args.crf, "gop": 48}
        print(json.dumps(report, indent=2))
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
