"""YOLO detection throughput through videojob's detector, printed as JSON.

yolov8n with random weights built from its yaml (no download; the network's cost does not depend on the weights'
values; random weights leave almost no boxes at confidence 0.25, so NMS, a small share, costs a little less than
with trained weights on busy footage), saved to a local file and loaded back the way `make_detector` does it. Synthetic 720p BGR frames (moving texture), imgsz 640, batch 1
and 8; warm-up batches excluded; best of --repeat timed runs. Tracking off so that the figure is the model's.

    .venv/bin/python bench/bench_yolo.py [--device cpu] [--frames 32] [--repeat 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 1280, 720


def frames(n: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    out = []
    for i in range(n):
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        img[..., 0] = 128 + 100 * np.sin((xx + 4 * i) / 17.0)
        img[..., 1] = 128 + 100 * np.sin((yy - 3 * i) / 11.0)
        img[..., 2] = 128 + 100 * np.sin((xx + yy + 5 * i) / 23.0)
        out.append(img)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda:0 or auto")
    parser.add_argument("--frames", type=int, default=32, help="frames per timed run (a multiple of 8)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()

    from videojob.pipeline.detect import DetectorConfig, make_detector
    from videojob.pipeline.detect.yolo import offline_ultralytics

    offline_ultralytics()
    import torch
    from ultralytics import YOLO

    if args.threads:
        torch.set_num_threads(args.threads)
    images = frames(args.frames)
    results: dict[str, object] = {
        "model": "yolov8n (random weights)",
        "frame": f"{WIDTH}x{HEIGHT}",
        "imgsz": args.imgsz,
        "frames_per_run": args.frames,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        # The figures are only as good as the machine is idle: other processes share these cores.
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "yolov8n-random.pt"
        YOLO("yolov8n.yaml").save(str(weights))
        for batch in (1, 8):
            cfg = DetectorConfig(
                kind="yolo", model=str(weights), classes=[], imgsz=args.imgsz, batch=batch, device=args.device
            )
            cfg = cfg.model_copy(update={"track": False})
            detector = make_detector(cfg)
            detector.detect(images[:batch] * 2)  # warm-up: lazy predictor set-up, allocator, first-call kernels
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                detector.detect(images)
                best = min(best, time.perf_counter() - start)
            results[f"fps_batch{batch}"] = round(args.frames / best, 2)
            results[f"ms_per_frame_batch{batch}"] = round(1000 * best / args.frames, 1)
            results["device"] = getattr(detector, "device", args.device)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
