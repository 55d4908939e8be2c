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
from .decode import frame_planes, is_full_range
from .device import resolve_device
from .ops import apply_batch, clip_boxes, masks_from_boxes
from .overlap import run_overlapped

Frame = tuple[int, av.VideoFrame]
EncodeSink = Callable[[int, av.VideoFrame], None]


Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame


@dataclass
class _Batch:
    items: list[Frame]
    boxes: list[list[Box]]
    edit: list[int]  # positions in items that have regions
    windows: list[Window] = field(default_factory=list)  # per edited frame: the part that is uploaded
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


def window_for(boxes: list[Box], margin: int, width: int, height: int) -> Window:
    """The boxes' union grown by `margin`, with even corners (a whole 4:2:0 picture); odd frames: the whole frame."""
    if width % 2 or height % 2:
        return 0, 0, width, height
    x0 = max(0, min(b.x0 for b in boxes) - margin) & ~1
    y0 = max(0, min(b.y0 for b in boxes) - margin) & ~1
    x1 = min(width, (max(b.x1 for b in boxes) + margin + 1) & ~1)
    y1 = min(height, (max(b.y1 for b in boxes) + margin + 1) & ~1)
    return x0, y0, x1, y1


def _margin(op: OperationConfig, width: int, height: int) -> int:
    if op.torchscript:
        return max(width, height)  # a user's model may look anywhere: give it the whole frame
    # Inpaint fills from the surroundings, so it must see them (as pipeline/yuvops.py); the others only the box.
    return 2 * op.inpaint_radius + 2 if op.kind == "inpaint" else 0


def _upload(frames: list[av.VideoFrame], windows: list[Window], device: Any) -> tuple[torch.Tensor, ...]:
    """Each frame's window of its planes, top-left on one canvas per plane, copied to the device at once."""
    hc = max(y1 - y0 for _, y0, _, y1 in windows)
    wc = max(x1 - x0 for x0, _, x1, _ in windows)
    shapes = [(hc, wc), ((hc + 1) // 2, (wc + 1) // 2), ((hc + 1) // 2, (wc + 1) // 2)]
    pinned = device.type == "cuda"
    bufs = [torch.zeros((len(frames), *shape), dtype=torch.uint8, pin_memory=pinned) for shape in shapes]
    for n, (frame, (x0, y0, x1, y1)) in enumerate(zip(frames, windows, strict=True)):
        for k, plane in enumerate(frame_planes(frame)):
            s = 1 if k == 0 else 2
            cut = plane[y0 // s : (y1 + s - 1) // s, x0 // s : (x1 + s - 1) // s]
            bufs[k][n, : cut.shape[0], : cut.shape[1]].copy_(cut)
    return tuple(b.to(device, non_blocking=pinned) for b in bufs)


def _batches(
    frames: Iterable[Frame],
    boxes_for_index: Callable[[int], list[Box]],
    op: OperationConfig,
    batch_size: int,
    device: Any,
) -> Iterator[_Batch]:
    """Runs in the decode thread: group frames, look up their boxes, start the upload of those with regions."""
    items: list[Frame] = []

    def flush() -> _Batch:
        w, h = items[0][1].width, items[0][1].height
        boxes = clip_boxes([boxes_for_index(i) for i, _ in items], w, h)
        edit = [k for k, b in enumerate(boxes) if b]
        margin = _margin(op, w, h)
        windows = [window_for(boxes[k], margin, w, h) for k in edit]
        planes = _upload([items[k][1] for k in edit], windows, device) if edit else None
        return _Batch(list(items), boxes, edit, windows, planes)  # type: ignore[arg-type]

    for item in frames:
        items.append(item)
        if len(items) == batch_size:
            yield flush()
            items.clear()
    if items:
        yield flush()


def _edit(batch: _Batch, op: OperationConfig, device: Any) -> list[Frame]:
    """Runs in the calling thread: the device work for one batch, then one download of the edited windows."""
    if batch.planes is None:
        return batch.items
    first = batch.items[batch.edit[0]][1]
    kr_kb, full = matrix_for(first.colorspace), is_full_range(first)
    y, u, v = batch.planes
    hc, wc = y.shape[1:]
    # Boxes relative to their window; `valid` marks each window's extent on the shared canvas.
    boxes = [
        [
            b.model_copy(update={"x0": b.x0 - x0, "y0": b.y0 - y0, "x1": b.x1 - x0, "y1": b.y1 - y0})
            for b in batch.boxes[k]
        ]
        for k, (x0, y0, _, _) in zip(batch.edit, batch.windows, strict=True)
    ]
    valid = masks_from_boxes(
        [[Box(x0=0, y0=0, x1=x1 - x0, y1=y1 - y0)] for x0, y0, x1, y1 in batch.windows], hc, wc, device
    )
    edited = apply_batch(yuv_to_bgr(y, u, v, kr_kb, full), boxes, op, valid)
    y2, u2, v2 = bgr_to_yuv(edited, kr_kb, full)
    mask = masks_from_boxes(boxes, hc, wc, device)
    # A chroma sample is replaced when any of its 2x2 pixels is inside a box (as pipeline/yuvops.py does).
    cmask = F.max_pool2d(mask.to(torch.float16 if device.type == "cuda" else torch.float32), 2, ceil_mode=True) > 0
    new = [
        torch.where(mask[:, 0], y2, y).cpu().numpy(),
        torch.where(cmask[:, 0], u2, u).cpu().numpy(),
        torch.where(cmask[:, 0], v2, v).cpu().numpy(),
    ]
    out = list(batch.items)
    fmt = "yuvj420p" if first.format.name == "yuvj420p" else "yuv420p"
    for n, (k, (x0, y0, x1, y1)) in enumerate(zip(batch.edit, batch.windows, strict=True)):
        idx, src = batch.items[k]
        frame = av.VideoFrame(src.width, src.height, fmt)
        for p, (dst, plane) in enumerate(zip(frame.planes, frame_planes(src), strict=True)):
            view = _plane_view(dst)
            view[:] = plane.numpy()  # the decoded picture, then the edited window over it
            s = 1 if p == 0 else 2
            wy0, wx0, wy1, wx1 = y0 // s, x0 // s, (y1 + s - 1) // s, (x1 + s - 1) // s
            view[wy0:wy1, wx0:wx1] = new[p][n, : wy1 - wy0, : wx1 - wx0]
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
        source = _batches(frames_iter, boxes_for_index, op_config, max(1, batch_size), dev)
        if overlap:
            run_overlapped(source, transform, sink, depth=2)
        else:
            for batch in source:
                sink(transform(batch))
    stats.wall_seconds = time.perf_counter() - started
    return stats
