"""Apply a region operation to a decoded YUV 4:2:0 frame, converting only the pixels around each box.

Converting every frame to BGR and back costs two full-frame colour conversions (most of a segment's CPU time
besides the encoder at 720p) and resamples the chroma of pixels the job never meant to touch. Instead each box
(grown by what the operation needs to see, e.g. inpaint's surroundings) is cut out as a small frame, converted
to BGR by the same swscale path, edited by `ops.apply_operation`, converted back, and only the box is pasted
into a copy of the frame. The result inside a box is what the full-frame BGR path gives; every pixel outside
the boxes stays exactly as decoded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .config import OperationConfig
from .detect.regions import Box
from .ops import apply_operation

PLANAR_420 = ("yuv420p", "yuvj420p")


def plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A writable height x width view of one plane (the buffer's rows are `line_size` bytes apart)."""
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


_spare: dict[tuple[int, int, str], av.VideoFrame] = {}
_local = threading.local()


def _convert(frame: av.VideoFrame, fmt: str) -> av.VideoFrame:
    """`frame.reformat(format=fmt)` through one swscale context per direction and thread, on this thread.

    A fresh frame's own reformat() builds a new swscale context for every call and, by default, a pool of
    scaler threads for it: for a box-sized crop that setup costs far more than the conversion (milliseconds of
    wall time per frame while the encoder's threads hold the cores). A kept context with the same sizes and
    formats is reused as it is, and gives the same pixels.
    """
    cache = getattr(_local, "reformatters", None)
    if cache is None:
        cache = _local.reformatters = {}
    key = (frame.format.name, fmt)
    reformatter = cache.get(key)
    if reformatter is None:
        reformatter = cache[key] = VideoReformatter()
    return reformatter.reformat(frame, format=fmt, threads=1)


def copy_frame(frame: av.VideoFrame) -> tuple[av.VideoFrame, list[np.ndarray]]:
    """A 4:2:0 frame with the same pixels: decoded buffers are the decoder's references, never edit them.

    The copy goes into one reused frame per size: encoders copy their input before `encode()` returns
    (libx264 into its own pictures, NVENC into its input surface), and a fresh 1-3 MB frame per video frame
    costs page faults that show up as system time.
    """
    if frame.format.name not in PLANAR_420:
        frame = frame.reformat(format="yuv420p")
    key = (frame.width, frame.height, frame.format.name)
    out = _spare.get(key)
    if out is None:
        out = _spare[key] = av.VideoFrame(*key)
    views = [plane_view(p) for p in out.planes]
    for dst, src in zip(views, frame.planes, strict=True):
        dst[:] = plane_view(src)
    return out, views


def _even_window(b: Box, margin: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by `margin`, with even corners so that it is a whole 4:2:0 picture."""
    x0, y0 = max(0, b.x0 - margin) & ~1, max(0, b.y0 - margin) & ~1
    x1, y1 = min(width, (b.x1 + margin + 1) & ~1), min(height, (b.y1 + margin + 1) & ~1)
    return x0, y0, x1, y1


def _crop(planes: Sequence[np.ndarray], fmt: str, x0: int, y0: int, x1: int, y1: int) -> av.VideoFrame:
    crop = av.VideoFrame(x1 - x0, y1 - y0, fmt)
    dst = [plane_view(p) for p in crop.planes]
    dst[0][:] = planes[0][y0:y1, x0:x1]
    for k in (1, 2):
        dst[k][:] = planes[k][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
    return crop


def edit_frame(frame: av.VideoFrame, boxes: Sequence[Box], op: OperationConfig) -> av.VideoFrame:
    """A new frame with the operation applied inside every box; `frame` itself is left untouched."""
    if op.kind == "none" or not boxes:
        return frame
    out, planes = copy_frame(frame)
    fmt, width, height = out.format.name, out.width, out.height
    # Inpaint fills a box from its surroundings, so it must see them; the other operations only the box.
    margin = 2 * op.inpaint_radius + 2 if op.kind == "inpaint" else 0
    for b in boxes:
        if b.x1 <= b.x0 or b.y1 <= b.y0:
            continue
        x0, y0, x1, y1 = _even_window(b, margin, width, height)
        bgr = _convert(_crop(planes, fmt, x0, y0, x1, y1), "bgr24").to_ndarray()
        local = b.model_copy(update={"x0": b.x0 - x0, "y0": b.y0 - y0, "x1": b.x1 - x0, "y1": b.y1 - y0})
        edited = apply_operation(bgr, [local], op)
        new = [plane_view(p) for p in _convert(av.VideoFrame.from_ndarray(edited, format="bgr24"), fmt).planes]
        # Paste the box only (chroma: every sample that any of its pixels uses).
        planes[0][b.y0 : b.y1, b.x0 : b.x1] = new[0][local.y0 : local.y1, local.x0 : local.x1]
        cx0, cy0, cx1, cy1 = b.x0 // 2, b.y0 // 2, (b.x1 + 1) // 2, (b.y1 + 1) // 2
        ox, oy = x0 // 2, y0 // 2
        for k in (1, 2):
            planes[k][cy0:cy1, cx0:cx1] = new[k][cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox]
    return out
