"""Decoded frames onto the torch device in batches: one host→device copy per batch from pinned memory.

Planes are read through DLPack (PyAV 18), so the same code takes system-memory frames and, with
HWAccel(is_hw_owned=True), frames NVDEC left on the GPU. Colour conversion happens on the device (color.py),
not in swscale on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import torch

from ..errors import BadInputError
from ..objectstore import Media, ObjectURL, as_media, av_input
from .color import matrix_for, yuv_to_bgr
from .overlap import prefetch

PLANAR_420 = ("yuv420p", "yuvj420p")


def is_full_range(frame: av.VideoFrame) -> bool:
    # AVCOL_RANGE_JPEG = 2; the yuvj formats are full range whatever the tag says.
    return frame.format.name.startswith("yuvj") or int(frame.color_range) == 2


def frame_planes(frame: av.VideoFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Luma [H,W] and chroma [ceil(H/2),ceil(W/2)] views of a 4:2:0 frame (other layouts are converted first)."""
    name = frame.format.name
    if name == "nv12":
        y, uv = (torch.from_dlpack(p) for p in frame.planes)
        return y, uv[..., 0], uv[..., 1]
    if name not in PLANAR_420:
        frame = frame.reformat(format="yuv420p")  # 10-bit, 4:2:2, 4:4:4: one CPU conversion
    y, u, v = (torch.from_dlpack(p) for p in frame.planes)
    return y, u, v


def upload_planes(frames: Sequence[av.VideoFrame], device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack the frames' planes into [N,...] uint8 tensors on `device` (pinned staging + async copy for CUDA)."""
    planes = [frame_planes(f) for f in frames]
    out = []
    for k in range(3):
        parts = [p[k] for p in planes]
        if parts[0].device.type != "cpu":
            out.append(torch.stack(parts).to(device))  # already on the GPU (hw-owned NVDEC frames)
            continue
        pinned = device.type == "cuda"
        buf = torch.empty((len(parts), *parts[0].shape), dtype=torch.uint8, pin_memory=pinned)
        for i, part in enumerate(parts):
            buf[i].copy_(part)  # also drops the planes' row padding
        out.append(buf.to(device, non_blocking=pinned))
    return out[0], out[1], out[2]


def frames_to_bgr(frames: Sequence[av.VideoFrame], device: Any) -> torch.Tensor:
    """[N,H,W,3] uint8 BGR on `device`, converted there."""
    y, u, v = upload_planes(frames, device)
    return yuv_to_bgr(y, u, v, matrix_for(frames[0].colorspace), is_full_range(frames[0]))


def _batches(path: Media, batch_size: int, hwaccel: Any) -> Iterator[list[tuple[int, av.VideoFrame]]]:
    try:
        with av.open(av_input(path), "r", hwaccel=hwaccel) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            batch: list[tuple[int, av.VideoFrame]] = []
            for i, frame in enumerate(container.decode(stream)):
                batch.append((i, frame))
                if len(batch) == batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
    except av.error.FFmpegError as exc:
        raise BadInputError(f"{path}: decoding failed ({exc})") from exc


def iter_bgr_batches(
    path: Path | str | ObjectURL, batch_size: int, device: Any, hwaccel: Any = None, depth: int = 2
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Every frame of the file in decode order as ([indices], [N,H,W,3] BGR on device); decode runs ahead.

    For whole-file passes (detection sampling, the benchmark). Segments use pipeline.decode.iter_frames, which is
    frame-exact across seeks, with gpu.process.
    """

    def uploaded(batches: Iterable[list[tuple[int, av.VideoFrame]]]) -> Iterator[tuple[list[int], torch.Tensor]]:
        for batch in batches:
            yield [i for i, _ in batch], frames_to_bgr([f for _, f in batch], device)

    return prefetch(uploaded(_batches(as_media(path), batch_size, hwaccel)), depth)
