"""Face redaction on the CPU against deface (ORB-HD/deface, CenterFace), on the same clip, printed as JSON (issue 13).

Both redact every frame of a real camera clip (Debian opencv-doc's vtest.avi, 768x576, 795 frames, by default) and
write an H.264 file; both are timed as whole commands (start-up, decode, detect, blur, encode), best of --repeat:
  * deface 1.5 in a bench-only venv (made on first use: `pip install deface onnx onnxruntime`; its onnxruntime
    backend imports onnx), onnxruntime backend (its fastest on a CPU), default threshold and scale;
  * `videojob run --detector yolo --sample-every 1` (detection on every frame, no sampling), yolov8n with random
    weights (built from its yaml, no download: the network's cost does not depend on its weights' values), with
    --workers auto and --workers 1.
The ratio is deface's wall time over ours (>= 1.5 is the issue's target for every-frame YOLO). CPU seconds of each
command (its children included) are printed too: on a shared 2-core machine wall times are noisy.

    .venv/bin/python bench/bench_deface.py [--clip PATH] [--repeat 2] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "videojob" / "bench-deface"


def deface_venv(venv: Path) -> Path:
    exe = venv / "bin" / "deface"
    complete = exe.exists() and any((venv / "lib").glob("python3*/site-packages/onnx/__init__.py"))
    if not complete:  # made, or finished (a venv from before onnx was in the list)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "deface==1.5.0",
            "onnx",
            "onnxruntime",
            "opencv-python-headless",
        ]
        subprocess.run(pip, check=True)
    return exe


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the command and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(cmd: list[str], repeat: int, out: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        runs.append(timed(cmd, env))
        if not out.is_file():
            raise SystemExit(f"{cmd[0]} wrote no {out}")
    wall, cpu = min(runs)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "walls": [round(w, 2) for w, _ in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--venv", type=Path, default=VENV, help="deface's bench-only venv (made when missing)")
    args = ap.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"{args.clip} missing: apt-get install opencv-doc (make system-deps) or pass --clip")
    deface = deface_venv(args.venv)

    from videojob.pipeline.detect.yolo import offline_ultralytics
    from videojob.pipeline.probe import probe

    offline_ultralytics()
    from ultralytics import YOLO

    info = probe(args.clip)
    env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONSAFEPATH": "1"}
    result: dict[str, object] = {
        "clip": {"path": str(args.clip), "width": info.width, "height": info.height, "frames": info.frames},
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "yolov8n-random.pt"
        YOLO("yolov8n.yaml").save(str(weights))
        out = Path(tmp) / "deface.mp4"
        result["deface"] = best([str(deface), str(args.clip), "-o", str(out), "--backend", "onnxrt"], args.repeat, out)
        videojob = str(Path(sys.executable).parent / "videojob")
        for workers in ("auto", "1"):
            out = Path(tmp) / f"videojob-{workers}.mp4"
            cmd = [videojob, "run", str(args.clip), "-o", str(out), "--detector", "yolo", "--model", str(weights)]
            cmd += ["--classes", "0", "--sample-every", "1", "--workers", workers]
            result[f"videojob_yolo_every_frame_workers_{workers}"] = best(cmd, args.repeat, out, env)
    ours = result["videojob_yolo_every_frame_workers_auto"]
    theirs = result["deface"]
    assert isinstance(ours, dict) and isinstance(theirs, dict)
    frames = info.frames or 0
    result["fps"] = {"deface": round(frames / theirs["wall_s"], 2), "videojob": round(frames / ours["wall_s"], 2)}
    result["videojob_over_deface_fps"] = round(theirs["wall_s"] / ours["wall_s"], 3)
    result["videojob_over_deface_by_cpu"] = round(theirs["cpu_s"] / ours["cpu_s"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
