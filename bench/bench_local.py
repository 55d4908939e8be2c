"""Local-mode throughput against plain ffmpeg, printed as JSON.

One generated 720p clip (moving texture, AAC audio) with a static-region blur:
  * ffmpeg -filter_complex crop+boxblur+overlay, libx264 with the same preset and CRF (x264's own rate control,
    the settings videojob gives every segment too), audio copied;
  * `videojob run` with 1 worker (1 segment), with 2 workers (2 segments), and as a user runs it without asking
    (--workers auto --segments auto), software libx264.
Everything is timed end to end as a user sees it (process start to output file), best of --repeat runs, all in
one invocation so the figures share the machine's load. Targets: 1 worker >= 1.0x ffmpeg, 2 workers >= 1.8x
one worker. For videojob runs, `stages` splits the best run by the job's own report: detect (probe + plan),
segments (summed over segments, so more than the wall time with parallel workers), finalize, and for one worker
`outside_stages` (interpreter start, imports, process exit: what ffmpeg has almost none of).

    .venv/bin/python bench/bench_local.py [--seconds 10] [--repeat 2] [--preset veryfast] [--crf 18]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 25
# Normalized static region and the same rectangle in pixels (padding 0).
REGION = (0.35, 0.3, 0.3, 0.3)
RX, RY, RW, RH = (round(v * s) for v, s in zip(REGION, (WIDTH, HEIGHT, WIDTH, HEIGHT), strict=True))


def make_clip(path: Path, seconds: float) -> int:
    """Smooth moving waves plus a moving block, like footage rather than noise; AAC tone alongside."""
    frames = int(seconds * FPS)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS, options={"crf": "16", "preset": "veryfast", "g": "50"})
        v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        a = out.add_stream("aac", rate=48000)
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        for i in range(frames):
            img[..., 0] = 128 + 100 * np.sin((xx + 3 * i) / 23.0)
            img[..., 1] = 128 + 100 * np.sin((yy - 2 * i) / 17.0)
            img[..., 2] = 128 + 100 * np.sin((xx + yy + 5 * i) / 31.0)
            x0 = (i * 9) % (WIDTH - 120)
            img[300:420, x0 : x0 + 120] = 240
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        total = int(48000 * frames / FPS)
        for start in range(0, total, 1024):
            n = min(1024, total - start)
            t = np.arange(start, start + n) / 48000
            af = av.AudioFrame.from_ndarray(
                (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], "fltp", "mono"
            )
            af.sample_rate, af.pts = 48000, start
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return frames


def ffmpeg_cmd(src: Path, dst: Path, preset: str, crf: int, x264_params: str | None = None) -> list[str]:
    # boxblur radius 54 with power 2 = two box passes of 109 px, the kernel videojob uses for this region
    # (blur_strength 0.5 x the region's smaller side); chroma planes are half size.
    r = min(RW, RH) // 4
    graph = (
        f"[0:v]split[a][b];[b]crop={RW}:{RH}:{RX}:{RY},boxblur=luma_radius={r}:luma_power=2:"
        f"chroma_radius={r // 2}:chroma_power=2[blur];[a][blur]overlay={RX}:{RY}[out]"
    )
    return [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(src),
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-map",
        "0:a",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        *(["-x264-params", x264_params] if x264_params else []),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "copy",
        str(dst),
    ]


def videojob_cmd(
    src: Path, dst: Path, workers: int | str, preset: str, crf: int, threads: int = 0, segments: int | str | None = None
) -> list[str]:
    exe = Path(sys.executable).with_name("videojob")
    region = ",".join(str(v) for v in REGION)
    return [
        str(exe),
        "run",
        str(src),
        "-o",
        str(dst),
        # kept for report.json (stage seconds); removed before every run, or the run would resume from it
        "--workdir",
        str(workdir_of(dst)),
        "--op",
        "blur",
        "--region",
        region,
        "--padding",
        "0",
        "--workers",
        str(workers),
        "--segments",
        str(workers if segments is None else segments),
        "--encoder",
        "software",
        "--codec",
        "h264",
        "--preset",
        preset,
        "--quality",
        str(crf),
        "--threads",
        str(threads),
    ]


def workdir_of(dst: Path) -> Path:
    return dst.with_name(dst.stem + "-work")


def stage_seconds(dst: Path) -> dict[str, float] | None:
    report = workdir_of(dst) / "report.json"
    return json.loads(report.read_text())["seconds"] if report.is_file() else None


def timed(cmd: list[str], dst: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the command and everything it waited for)."""
    dst.unlink(missing_ok=True)
    shutil.rmtree(workdir_of(dst), ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not dst.is_file():
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return round(seconds, 3), round(cpu, 3)


# Run in a fresh interpreter: seconds from the process's start (from /proc) to the first 10 frames handed to the
# encoder, as a user's `videojob run` sees them: interpreter, imports, probe and plan, the detector's load and its
# first samples, the segment's first frames.
FIRST_FRAMES = """
import os, sys, time
from pathlib import Path
stat, up = Path("/proc/self/stat").read_text(), float(Path("/proc/uptime").read_text().split()[0])
t0 = time.time() - up + int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
from videojob.pipeline.config import JobConfig, OperationConfig
from videojob.pipeline.detect import DetectorConfig, NormRegion
from videojob.pipeline.runner import run_local
kind, src, dst, template = sys.argv[1:5]
x, y, w, h = (float(v) for v in sys.argv[5].split(","))
detector = (
    DetectorConfig(kind="static", regions=[NormRegion(x=x, y=y, w=w, h=h)])
    if kind == "static" else DetectorConfig(kind="template", template=template)
)
first = []
def sink(stage, key, done, total):
    if stage == "segment" and done >= 10 and not first:
        first.append(time.time() - t0)
run_local(src, dst, JobConfig(detector=detector, operation=OperationConfig(kind="blur")), workers=1, progress=sink)
print(round(first[0], 3))
"""


def first_frames_seconds(src: Path, work: Path, kind: str) -> float:
    template = work / "template.png"
    if not template.is_file():
        import cv2

        with av.open(str(src)) as c:
            frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
        cv2.imwrite(str(template), frame[100:164, 200:264])  # a textured patch of the first frame
    region = ",".join(str(v) for v in REGION)
    command = [sys.executable, "-c", FIRST_FRAMES, kind, str(src), str(work / f"first-{kind}.mp4"), str(template)]
    done = subprocess.run([*command, region], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=2, help="runs per variant; the best is reported")
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--keep", type=Path, help="keep the clip and outputs in this directory")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed (make system-deps, or apt-get install -y ffmpeg)")
    work = Path(tempfile.mkdtemp(prefix="vj-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        src = work / "clip-720p.mp4"
        frames = make_clip(src, args.seconds)
        load_before = os.getloadavg()
        vj = functools.partial(videojob_cmd, src, preset=args.preset, crf=args.crf)
        variants = {
            "ffmpeg": (ffmpeg_cmd(src, work / "ffmpeg.mp4", args.preset, args.crf), work / "ffmpeg.mp4"),
            "videojob_1_worker": (vj(work / "vj1.mp4", 1), work / "vj1.mp4"),
            "videojob_2_workers": (vj(work / "vj2.mp4", 2), work / "vj2.mp4"),
            # What a user gets without asking: --workers auto --segments auto (a worker per two cores).
            "videojob_auto": (vj(work / "vja.mp4", "auto", segments="auto"), work / "vja.mp4"),
            # Pool scaling on its own: one encoder thread per worker, so one worker cannot already use every core.
            "videojob_1_worker_1_thread": (vj(work / "vj1t.mp4", 1, threads=1), work / "vj1t.mp4"),
            "videojob_2_workers_1_thread": (vj(work / "vj2t.mp4", 2, threads=1), work / "vj2t.mp4"),
        }
        # Interleave the variants round by round, so a burst of load from elsewhere hits all of them alike.
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        stages: dict[str, list[dict[str, float] | None]] = {k: [] for k in variants}
        for _ in range(args.repeat):
            for name, (cmd, dst) in variants.items():
                runs[name].append(timed(cmd, dst))
                stages[name].append(stage_seconds(dst))
        results: dict[str, dict[str, Any]] = {}
        for name, (_, dst) in variants.items():
            best = min(wall for wall, _ in runs[name])
            cpu = min(c for _, c in runs[name])
            split = stages[name][[wall for wall, _ in runs[name]].index(best)]
            if split is not None and name.startswith("videojob_1_worker"):
                split = {**split, "outside_stages": round(best - sum(split.values()), 3)}
            results[name] = {
                "seconds": best,
                "fps": round(frames / best, 2),
                "cpu_seconds": cpu,
                "frames_per_cpu_second": round(frames / cpu, 2),
                "runs_wall_cpu": runs[name],
                "frames_out": frame_count(dst),
                "bytes": dst.stat().st_size,
                **({"stages": split} if split is not None else {}),
            }
        first_frames = {
            kind: min(first_frames_seconds(src, work, kind) for _ in range(args.repeat))
            for kind in ("static", "template")
        }
        fps: dict[str, float] = {k: v["fps"] for k, v in results.items()}
        one, two, ff = fps["videojob_1_worker"], fps["videojob_2_workers"], fps["ffmpeg"]
        report = {
            "clip": {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": frames, "audio": "aac"},
            "region_px": [RX, RY, RW, RH],
            "encoder": {"codec": "libx264", "preset": args.preset, "crf": args.crf},
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "results": results,
            "ratio_1_worker_vs_ffmpeg": round(one / ff, 3),
            "ratio_2_workers_vs_1_worker": round(two / one, 3),
            "ratio_auto_vs_1_worker": round(fps["videojob_auto"] / one, 3),
            "ratio_2_workers_vs_ffmpeg": round(two / ff, 3),
            "ratio_cpu_efficiency_1_worker_vs_ffmpeg": round(
                results["videojob_1_worker"]["frames_per_cpu_second"] / results["ffmpeg"]["frames_per_cpu_second"], 3
            ),
            "ratio_2_workers_vs_1_worker_at_1_thread": round(
                fps["videojob_2_workers_1_thread"] / fps["videojob_1_worker_1_thread"], 3
            ),
            "first_frames_seconds": first_frames,
            "targets": {
                "1_worker_vs_ffmpeg": 1.0,
                "2_workers_vs_1_worker": 1.8,
                "auto_vs_1_worker": 1.0,
                "first_frames_seconds": 1.0,
            },
            "met": {
                "1_worker_vs_ffmpeg": one / ff >= 1.0,
                "2_workers_vs_1_worker": two / one >= 1.8,
                # Runs of the same work differ by a few percent on a shared machine: within 3 % is not slower.
                "auto_vs_1_worker": fps["videojob_auto"] / one >= 0.97,
                **{f"first_frames_{k}": v <= 1.0 for k, v in first_frames.items()},
            },
        }
        print(json.dumps(report, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
