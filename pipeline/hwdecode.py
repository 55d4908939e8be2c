"""NVDEC for segment decoding: whether FFmpeg can open a CUDA device here, and frames back in the stream's layout.

PyAV raises while opening a container with `hwaccel=` when the CUDA device cannot be created (no driver, no GPU),
so whether it can is found out once per process by creating the device context on its own, and remembered.
Frames NVDEC decoded are downloaded to system memory as nv12 (p010 for 10 bits); they are put back into the
planar layout the software decoder gives (a plain copy of the same samples), so the region edits, the encoder
and the output do not depend on which decoder ran.
"""

from __future__ import annotations

import functools
from typing import Literal

import av
import numpy as np
from av.codec.hwaccel import HWAccel, hwdevices_available
from av.video.reformatter import VideoReformatter

from .errors import BadInputError

HwaccelMode = Literal["auto", "cuda", "none"]

# What NVDEC's frames are downloaded as, per software layout that holds the same samples.
_SEMI_PLANAR = {"nv12": ("yuv420p", "yuvj420p")}


@functools.cache
def _cuda_decode(codec: str) -> tuple[bool, str | None]:
    """(whether FFmpeg failed to create a CUDA device here, why `codec` cannot be decoded on one or None)."""
    if "cuda" not in hwdevices_available():
        return False, "this FFmpeg build has no CUDA support"
    try:
        decoder = av.Codec(codec, "r")
    except (av.error.FFmpegError, ValueError) as exc:
        return False, f"no decoder for {codec} ({exc})"
    try:
        HWAccel(device_type="cuda", allow_software_fallback=False).create(decoder)
    except NotImplementedError:
        return False, f"NVDEC cannot decode {codec}"
    except (av.error.FFmpegError, ValueError, OSError):
        # The driver's errno ("[Errno 1] Operation not permitted") says nothing a user can act on.
        return True, "no NVIDIA GPU is visible to this process"
    return False, None


def cuda_decode_problem(codec: str) -> str | None:
    """None when FFmpeg can decode `codec` on a CUDA device here; otherwise why not, in a few words."""
    return _cuda_decode(codec)[1]


def no_cuda_device() -> bool:
    """True when FFmpeg has CUDA support but could not create a device: no driver or no GPU here.

    An FFmpeg build without CUDA support says nothing about the machine's GPU, so that is not "no device".
    """
    return _cuda_decode("h264")[0]


def choose_hwaccel(mode: HwaccelMode, codec: str) -> tuple[HWAccel | None, str]:
    """(settings for av.open(..., hwaccel=...) or None for software, a note when `auto` fell back to software).

    `cuda` without a usable device is a spec error (one line); `auto` decodes in software and says why.
    Software fallback stays on inside the decoder for streams NVDEC rejects (e.g. 4:4:4 H.264).
    """
    if mode == "none":
        return None, ""
    problem = cuda_decode_problem(codec)
    if problem is None:
        return HWAccel(device_type="cuda", allow_software_fallback=True), ""
    if mode == "cuda":
        raise BadInputError(
            f"decode hwaccel cuda was requested but NVDEC is unusable here: {problem}; use hwaccel auto or none, "
            "or schedule the pod on a node with an NVIDIA GPU"
        )
    return None, f"NVDEC unavailable: {problem}; decoded in software"


def decoded_on_device(ctx: av.video.codeccontext.VideoCodecContext, frame: av.VideoFrame, software: str) -> bool:
    """Whether NVDEC decoded `frame` (the first one): the decoder settled on the CUDA surface format, or the frame
    was downloaded in a layout the software decoder does not give."""
    return bool(ctx.is_hwaccel) and (ctx.pix_fmt == "cuda" or frame.format.name != software)


_reformatter = VideoReformatter()


def to_software_layout(frame: av.VideoFrame, fmt: str) -> av.VideoFrame:
    """`frame` in the layout `fmt` the software decoder gives, with the same samples and timestamps."""
    src = frame.format.name
    if src == fmt:
        return frame
    if fmt in _SEMI_PLANAR.get(src, ()):
        out = av.VideoFrame(frame.width, frame.height, fmt)
        y, uv = (_rows(p) for p in frame.planes)
        dst = [_rows(p)[:, : p.width] for p in out.planes]
        dst[0][:] = y[:, : frame.width]
        h, w = dst[1].shape
        pairs = uv[:, : 2 * w].reshape(h, w, 2)  # U and V interleaved
        dst[1][:] = pairs[..., 0]
        dst[2][:] = pairs[..., 1]
    else:
        out = _reformatter.reformat(frame, format=fmt, threads=1)
    out.pts, out.time_base = frame.pts, frame.time_base
    out.colorspace, out.color_range = frame.colorspace, frame.color_range
    out.color_primaries, out.color_trc = frame.color_primaries, frame.color_trc
    return out


def _rows(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's bytes as height x line_size (padding included; callers cut the width they mean)."""
    return np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
