"""Region operations over a segment's frames in batches on the torch device, with decode and encode overlapped.

Frames without regions go to the encoder exactly as decoded (as on the CPU path). Frames with regions are
uploaded as YUV planes, converted to BGR on the device, edited by gpu.ops, converted back, and only the pixels
of the boxes (and the chroma samples they use) replace the decoded ones, so everything outside the boxes is
bit-identical to the source decode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from ..config import OperationConfig
from ..detect.regions import Box
from .color import bgr_to_yuv, matrix_for, yuv_to_bgr
from .decode import is_full_range, upload_planes
from .device import resolve_device
from .ops import apply_batch, clip_boxes, masks_from_boxes
from .overlap import run_overlapped

Frame = tuple[int, av.VideoFrame]
EncodeSink = Callable[[int, av.VideoFrame], None]


@dataclass
class _Batch:
    items: list[Frame]
    boxes: list[list[Box]]
    edit: list[int]  # positions in items that have regions
    planes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


@dataclass
class BatchStats:
    device: str
    frames: int = 0
    frames_with_regions: int = 0
    batches: int = 0
    op_seconds: float = 0.0  # time in the device stage (includes waiting for the device to finish)
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _plane_view(plane: Any) -> np.ndarray:
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def _batches(
    frames: Iterable[Frame], boxes_for_index: Callable[[int], list[Box]], batch_size: int, device: Any
) -> Iterator[_Batch]:
    """Runs in the decode thread: group frames, look up their boxes, start the upload of those with regions."""
    items: list[Frame] = []

    def flush() -> _Batch:
        w, h = items[0][1].width, items[0][1].height
        boxes = clip_boxes([boxes_for_index(i) for i, _ in items], w, h)
        edit = [k for k, b in enumerate(boxes) if b]
        planes = upload_planes([items[k][1] for k in edit], device) if edit else None
        return _Batch(list(items), boxes, edit, planes)

    for item in frames:
        items.append(item)
        if len(items) == batch_size:
            yield flush()
            items.clear()
    if items:
        yield flush()


def _edit(batch: _Batch, op: OperationConfig, device: Any) -> list[Frame]:
    """Runs in the calling thread: the device work for one batch, then one download of the edited planes."""
    if batch.planes is None:
        return batch.items
    first = batch.items[batch.edit[0]][1]
    kr_kb, full = matrix_for(first.colorspace), is_full_range(first)
    y, u, v = batch.planes
    boxes = [batch.boxes[k] for k in batch.edit]
    edited = apply_batch(yuv_to_bgr(y, u, v, kr_kb, full), boxes, op)
    y2, u2, v2 = bgr_to_yuv(edited, kr_kb, full)
    mask = masks_from_boxes(boxes, y.shape[1], y.shape[2], device)
    # A chroma sample is replaced when any of its 2x2 pixels is inside a box (as pipeline/yuvops.py does).
    cmask = F.max_pool2d(mask.to(torch.float16 if device.type == "cuda" else torch.float32), 2, ceil_mode=True) > 0
    y_out = torch.where(mask[:, 0], y2, y).cpu().numpy()
    u_out = torch.where(cmask[:, 0], u2, u).cpu().numpy()
    v_out = torch.where(cmask[:, 0], v2, v).cpu().numpy()
    out = list(batch.items)
    fmt = "yuvj420p" if first.format.name == "yuvj420p" else "yuv420p"
    for n, k in enumerate(batch.edit):
        idx, src = batch.items[k]
        frame = av.VideoFrame(src.width, src.height, fmt)
        for dst, plane in zip(frame.planes, (y_out[n], u_out[n], v_out[n]), strict=True):
            _plane_view(dst)[:] = plane
        frame.colorspace, frame.color_range = src.colorspace, src.color_range
        out[k] = (idx, frame)
    return out


def process_frames_batched(
    frames_iter: Iterable[Frame],
    boxes_for_index: Callable[[int], list[Box]],
    op_config: OperationConfig,
    encode_sink: EncodeSink,
    batch_size: int = 16,
    device: str | Any = "auto",
    overlap: bool = True,
) -> BatchStats:
    """Call encode_sink(index, frame) for every frame of frames_iter, in order, with the operation applied.

    overlap=True runs decode, device work and encode concurrently (bounded queues, depth 2 batches);
    overlap=False runs the same steps one after another in the calling thread.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    stats = BatchStats(device=str(dev))
    started = time.perf_counter()

    def transform(batch: _Batch) -> list[Frame]:
        t0 = time.perf_counter()
        result = _edit(batch, op_config, dev)
        stats.op_seconds += time.perf_counter() - t0
        stats.batches += 1
        stats.frames += len(batch.items)
        stats.frames_with_regions += len(batch.edit)
        return result

    def sink(frames: list[Frame]) -> None:
        for idx, frame in frames:
            encode_sink(idx, frame)

    with torch.inference_mode():
        source = _batches(frames_iter, boxes_for_index, max(1, batch_size), dev)
        if overlap:
            run_overlapped(source, transform, sink, depth=2)
        else:
            for batch in source:
                sink(transform(batch))
    stats.wall_seconds = time.perf_counter() - started
    return stats
