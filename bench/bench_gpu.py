"""GPU path throughput per stage and end to end on a generated 1080p clip, printed as JSON.

Stages, each timed alone over the same frames (warm-up outside the timed region, CUDA synchronised):
  * decode: software (FFmpeg threads) and, where it opens, NVDEC;
  * upload: decode + host→device copy + YUV→BGR on the device (gpu.decode.iter_bgr_batches, decode-ahead thread);
  * detect: YOLOv8n (random weights from ultralytics' yolov8n.yaml unless --model is given: same compute), batched,
    half precision on CUDA;
  * op: the region operation on device batches (gpu.ops.apply_batch) vs the CPU op on the same boxes (yuvops);
  * encode: the encoder the job would choose (NVENC where the GPU has one, libx264 otherwise).
End to end: decode → batched op → encode overlapped (gpu.process) vs the CPU path's sequential loop, same encoder.
GPU utilisation is sampled during the end-to-end run (torch.cuda.utilization, needs pynvml); null without it.

    .venv/bin/python bench/bench_gpu.py [--frames 120] [--batch 16] [--op blur] [--model yolov8n.pt] [--no-detect]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from videojob.pipeline.config import EncodeConfig, OperationConfig
from videojob.pipeline.detect.regions import Box
from videojob.pipeline.encode import add_video_stream, choose_encoder
from videojob.pipeline.gpu.decode import iter_bgr_batches
from videojob.pipeline.gpu.device import describe, hwaccel_for, resolve_device
from videojob.pipeline.gpu.ops import apply_batch
from videojob.pipeline.gpu.process import process_frames_batched
from videojob.pipeline.yuvops import edit_frame

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def make_clip(path: Path, frames: int) -> None:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS, options={"crf": "18", "preset": "ultrafast", "g": "60"})
        v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        for i in range(frames):
            img[..., 0] = 128 + 100 * np.sin((xx + 3 * i) / 23.0)
            img[..., 1] = 128 + 100 * np.sin((yy - 2 * i) / 17.0)
            img[..., 2] = 128 + 100 * np.sin((xx + yy + 5 * i) / 31.0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def boxes_for(i: int) -> list[Box]:
    """Two face-sized moving regions on every frame."""
    dx = (i * 7) % 400
    return [Box(x0=300 + dx, y0=200, x1=560 + dx, y1=520), Box(x0=1200, y0=500 + dx // 2, x1=1500, y1=860 + dx // 2)]


def sync(device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fps(frames: int, seconds: float) -> float | None:
    return round(frames / seconds, 2) if seconds > 0 else None


def timed(fn: Callable[[], int], device: Any) -> dict[str, Any]:
    sync(device)
    t0 = time.perf_counter()
    n = fn()
    sync(device)
    s = time.perf_counter() - t0
    return {"frames": n, "seconds": round(s, 3), "fps": fps(n, s)}


def decode_count(path: Path, hwaccel: Any = None) -> int:
    with av.open(str(path), hwaccel=hwaccel) as c:
        c.streams.video[0].thread_type = "AUTO"
        return sum(1 for _ in c.decode(video=0))


class UtilSampler:
    """torch.cuda.utilization() every 100 ms in a thread; None where pynvml is missing or there is no GPU."""

    def __init__(self, device: Any) -> None:
        self.device, self.samples, self.stop = device, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception:  # no pynvml / no NVML: utilisation is unknown, not zero
                return

    def __enter__(self) -> UtilSampler:
        if self.device.type == "cuda":
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def summary(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        return {"mean_percent": round(float(np.mean(self.samples)), 1), "max_percent": float(max(self.samples))}


def encode_frames(frames: list[av.VideoFrame], out_path: Path, name: str, cfg: EncodeConfig) -> int:
    with av.open(str(out_path), "w") as out:
        stream = add_video_stream(out, name, cfg, WIDTH, HEIGHT, Fraction(1, FPS), Fraction(FPS))
        for i, f in enumerate(frames):
            f.pts, f.time_base = i, Fraction(1, FPS)
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return len(frames)


def end_to_end(path: Path, out_path: Path, name: str, cfg: EncodeConfig, op: OperationConfig, gpu: Any, batch: int):
    with av.open(str(path)) as src, av.open(str(out_path), "w") as out:
        src.streams.video[0].thread_type = "AUTO"
        stream = add_video_stream(out, name, cfg, WIDTH, HEIGHT, Fraction(1, FPS), Fraction(FPS))

        def sink(i: int, f: av.VideoFrame) -> None:
            f.pts, f.time_base = i, Fraction(1, FPS)
            for p in stream.encode(f):
                out.mux(p)

        frames = enumerate(src.decode(video=0))
        if gpu is None:  # the CPU path of pipeline/segment.py: per frame, per box
            done = [sink(i, edit_frame(f, boxes_for(i), op)) for i, f in frames]
            n = len(done)
        else:
            n = process_frames_batched(frames, boxes_for, op, sink, batch_size=batch, device=gpu).frames
        for p in stream.encode(None):
            out.mux(p)
    return n


def detect_stage(path: Path, model: str | None, device: Any, batch: int, tmp: Path) -> dict[str, Any]:
    from ultralytics import YOLO
    from videojob.pipeline.detect import DetectorConfig, make_detector

    if model is None:
        model = str(tmp / "random-yolov8n.pt")
        YOLO("yolov8n.yaml").save(model)  # built locally, nothing downloaded; same compute as trained weights
    cfg = DetectorConfig(kind="yolo", model=model, batch=batch, device=str(device), imgsz=640, track=False)
    det: Any = make_detector(cfg)
    det.warmup(WIDTH, HEIGHT)
    with av.open(str(path)) as c:
        arrays = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]

    def run() -> int:
        for k in range(0, len(arrays), batch):
            det.detect(arrays[k : k + batch])
        return len(arrays)

    result = timed(run, device)
    result.update(model=Path(model).name, half=bool(getattr(det, "half", False)), imgsz=640, batch=batch)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=None, help="clip length (default 240 with CUDA, 48 without)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--op", default="blur", choices=["blur", "pixelate", "fill", "inpaint"])
    parser.add_argument("--model", default=None, help="YOLO weights (default: random yolov8n built from yaml)")
    parser.add_argument("--no-detect", action="store_true")
    args = parser.parse_args()

    device = resolve_device("auto")
    cuda = device.type == "cuda"
    frames = args.frames or (240 if cuda else 48)
    report = describe("auto").to_dict()
    op = OperationConfig(kind=args.op)
    enc_cfg = EncodeConfig()
    encoder = choose_encoder(enc_cfg)
    result: dict[str, Any] = {
        "cuda": cuda,
        "gpu": report["gpu"],
        "device": str(device),
        "torch": torch.__version__,
        "cpu_threads": os.cpu_count(),
        "clip": {"width": WIDTH, "height": HEIGHT, "frames": frames, "boxes_per_frame": 2},
        "op": args.op,
        "batch": args.batch,
        "encoder": encoder,
        "notes": report["notes"],
    }
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmpdir:
        tmp = Path(tmpdir)
        clip = tmp / "clip.mp4"
        make_clip(clip, frames)
        stages: dict[str, Any] = {}
        decode_count(clip)  # warm the page cache
        stages["decode_software"] = timed(lambda: decode_count(clip), device)
        hw = hwaccel_for(device)
        stages["decode_nvdec"] = timed(lambda: decode_count(clip, hw), device) if hw is not None else None
        stages["upload_to_device"] = timed(
            lambda: sum(len(i) for i, _ in iter_bgr_batches(clip, args.batch, device)), device
        )

        # The op stage alone: device batches already resident, as the batched path hands them over.
        batches = [(i, b) for i, b in iter_bgr_batches(clip, args.batch, device)]
        apply_batch(batches[0][1], [boxes_for(i) for i in batches[0][0]], op)  # warm-up (kernels, allocator)
        stages["op_device"] = timed(
            lambda: sum(len(apply_batch(b, [boxes_for(i) for i in idx], op)) for idx, b in batches), device
        )
        batches = []  # free device memory before the end-to-end runs
        with av.open(str(clip)) as c:
            decoded = list(enumerate(c.decode(video=0)))
        stages["op_cpu"] = timed(lambda: sum(1 for i, f in decoded if edit_frame(f, boxes_for(i), op)), device)
        stages["encode"] = timed(
            lambda: encode_frames([f for _, f in decoded], tmp / "enc.mp4", encoder, enc_cfg), device
        )
        stages["encode"]["encoder"] = encoder
        decoded = []
        stages["detect"] = None if args.no_detect else detect_stage(clip, args.model, device, args.batch, tmp)
        result["stages"] = stages

        cpu_e2e = timed(lambda: end_to_end(clip, tmp / "cpu.mp4", encoder, enc_cfg, op, None, args.batch), device)
        with UtilSampler(device) as util:
            gpu_e2e = timed(lambda: end_to_end(clip, tmp / "gpu.mp4", encoder, enc_cfg, op, device, args.batch), device)
        result["end_to_end"] = {
            "cpu_path": cpu_e2e,
            "batched_path": gpu_e2e | {"device": str(device)},
            "speedup": round(cpu_e2e["seconds"] / gpu_e2e["seconds"], 2) if gpu_e2e["seconds"] else None,
            "gpu_utilisation": util.summary(),
            "excludes": "detection (timed as its own stage; segments read regions from the plan unless dense)",
        }
        if stages["op_device"]["fps"] and stages["op_cpu"]["fps"]:
            result["op_speedup"] = round(stages["op_device"]["fps"] / stages["op_cpu"]["fps"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
