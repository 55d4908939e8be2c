"""Encoder choice and settings that make independently encoded segments concatenable by packet copy.

Every segment is its own encode: its first frame is an IDR frame, GOPs are closed, and the parameters are
identical for every segment, so the parameter sets match and segments join without re-encoding.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import TYPE_CHECKING, cast

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext

from .config import EncodeConfig
from .errors import BadInputError
from .pixfmt import HdrInfo, hdr_params, output_format

if TYPE_CHECKING:
    from .probe import ColorTags

NVENC = {"h264": "h264_nvenc", "hevc": "hevc_nvenc"}
SOFTWARE = {"h264": "libx264", "hevc": "libx265"}


@functools.cache
def encoder_works(name: str) -> bool:
    """Open the encoder on a tiny frame: NVENC is compiled into PyAV's FFmpeg but needs a driver and a GPU."""
    try:
        ctx = cast(VideoCodecContext, av.CodecContext.create(name, "w"))
        ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25)
        ctx.open()
        frame = av.VideoFrame.from_ndarray(np.zeros((256, 256, 3), np.uint8), format="bgr24").reformat(format="yuv420p")
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
        return True
    except (av.error.FFmpegError, ValueError, OSError):
        return False


def choose_encoder(cfg: EncodeConfig, needs_software: bool = False) -> str:
    """`needs_software`: the source's depth, chroma or size is more than NVENC holds, so auto takes software."""
    if cfg.encoder == "auto" and needs_software:
        return SOFTWARE[cfg.codec]
    if cfg.encoder in ("auto", "nvenc") and encoder_works(NVENC[cfg.codec]):
        return NVENC[cfg.codec]
    if cfg.encoder == "nvenc":
        raise BadInputError(
            f"encoder nvenc was requested but {NVENC[cfg.codec]} cannot be opened here (no NVIDIA GPU with an "
            "encoder, or no driver); use encoder auto or software"
        )
    return SOFTWARE[cfg.codec]


def encoder_options(
    name: str, cfg: EncodeConfig, lossless: bool = False, joined: bool = True, extra: str = ""
) -> dict[str, str]:
    """Options for `name`; identical for every segment of a job by construction.

    `joined`: the stream is one of several segments that will be joined by packet copy. A stream that is the
    whole output (a one-segment plan, or the single encode of stage=finalize) has no seams to hide and keeps
    the encoder's own rate control, as the ffmpeg command line does.
    """
    if name == "libx264":
        # mbtree lowers the quality of a stream's last frames (nothing references them) and ipratio raises the
        # first IDR's: with one stream per segment both pulse at every seam, so both are off.
        # pbratio=1 likewise keeps the last mini-GOP of a segment from standing out.
        # The price is bitrate at a given CRF (and the CPU to code it), so a lone stream keeps them.
        params = "open-gop=0:scenecut=0:mbtree=0:ipratio=1.0:pbratio=1.0" if joined else "open-gop=0"
        params += extra
        opts = {"preset": "ultrafast" if lossless else cfg.preset, "x264-params": params}
        opts.update({"qp": "0"} if lossless else {"crf": str(cfg.quality)})
        return opts
    if name == "libx265":
        seams = "scenecut=0:cutree=0:ipratio=1.0:" if joined else ""
        params = f"open-gop=0:{seams}log-level=error:repeat-headers=1{extra}"
        opts = {"preset": cfg.preset, "x265-params": params + (":lossless=1" if lossless else f":crf={cfg.quality}")}
        return opts
    if name in NVENC.values():
        # The NVENC wrappers default to a 2 Mb/s average bitrate, which VBR honours even with a CQ target:
        # b=0 makes `cq` the only goal (constant quality), as CRF is for x264.
        return {
            "b": "0",
            "preset": "p4",
            "tune": "lossless" if lossless else "hq",
            "rc": "constqp" if lossless else "vbr",
            "cq": str(cfg.quality),
            "forced-idr": "1",
            "strict_gop": "1",
        }
    raise ValueError(f"unknown encoder {name}")


def add_video_stream(
    container: av.container.OutputContainer,
    name: str,
    cfg: EncodeConfig,
    width: int,
    height: int,
    time_base: Fraction,
    rate: Fraction,
    lossless: bool = False,
    joined: bool = True,
    color: ColorTags | None = None,
    source_pix_fmt: str | None = None,
    sample_aspect: tuple[int, int] | None = None,
    hdr: HdrInfo | None = None,
) -> av.video.stream.VideoStream:
    # The source's bit depth and chroma (odd sizes as 4:4:4), the same for every segment (see pixfmt.py).
    pix_fmt = output_format(name, source_pix_fmt, width, height)
    options = encoder_options(name, cfg, lossless, joined, hdr_params(name, hdr))
    stream = container.add_stream(name, rate=rate, options=options)
    assert isinstance(stream, av.video.stream.VideoStream)
    stream.width = width
    stream.height = height
    stream.pix_fmt = pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    # PyAV opens encoders with slice threads, which makes x264 encode one frame at a time in slices; frame threads
    # (what the ffmpeg command line uses) overlap the encode with our decoding and compress better.
    stream.codec_context.thread_type = "FRAME"
    if cfg.threads:
        stream.codec_context.thread_count = cfg.threads
    if sample_aspect is not None:
        # Into the bitstream's VUI (and from there the container): anamorphic pixels keep their shape.
        stream.codec_context.sample_aspect_ratio = Fraction(*sample_aspect)
    if color is not None:
        # The source's colour description goes into the output's VUI, or players guess (BT.601 vs 709, range).
        ctx = stream.codec_context
        ctx.color_primaries, ctx.color_trc, ctx.colorspace = color.primaries, color.transfer, color.matrix
        # yuvj sources reach the encoder converted to limited range (yuv420p etc.); others keep their samples.
        ctx.color_range = 1 if (source_pix_fmt or "").startswith("yuvj") else color.range
    return stream
