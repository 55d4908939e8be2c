"""Encoder choice and settings that make independently encoded segments concatenable by packet copy.

Every segment is its own encode: its first frame is an IDR frame, GOPs are closed, and the parameters are
identical for every segment, so the parameter sets match and segments join without re-encoding.

Segments keep the encoder's full rate control, as Av1an does (x264 mbtree, x265 cutree, the I/P and P/B QP
ratios, scene-cut keyframes): none of it is in the parameter sets, and turning it off for "seam safety" cost
+60 % bytes at the same CRF, up to 5.6x on noisy footage (bench/bench_seams.py). A segment's first frame is an IDR
coded at ipratio's finer QP, so a seam is a keyframe that is better than its neighbours, not worse; the frames
before it keep their quality because the encoder looks past the segment's end (tail_frames, pipeline/segment.py).
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


# rc-lookahead of each preset (x264 --fullhelp, x265 --help): how many frames ahead mbtree/cutree look when they
# set a frame's quality. ultrafast and superfast x264 have no mbtree.
X264_LOOKAHEAD = {"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20, "fast": 30, "medium": 40}
X264_LOOKAHEAD |= {"slow": 50, "slower": 60, "veryslow": 60, "placebo": 60}
X265_LOOKAHEAD = {"ultrafast": 5, "superfast": 10, "veryfast": 15, "faster": 15, "fast": 15, "medium": 20}
X265_LOOKAHEAD |= {"slow": 25, "slower": 40, "veryslow": 40, "placebo": 60}


def tail_frames(name: str, preset: str) -> int:
    """Frames after a segment's end to let the encoder look at (and then drop): its rate control's lookahead.

    Without them a segment's last frames are a stream's last frames to mbtree/cutree, referenced by nothing, and
    get a coarser QP: 1-2 dB below their neighbours just before every seam. NVENC has no such lookahead here.
    """
    if name == "libx264":
        return X264_LOOKAHEAD.get(preset, 60)
    if name == "libx265":
        return X265_LOOKAHEAD.get(preset, 60)
    return 0


def encoder_options(name: str, cfg: EncodeConfig, lossless: bool = False, extra: str = "") -> dict[str, str]:
    """Options for `name`; identical for every segment of a job by construction, and the same as a one-segment
    job's (or the ffmpeg command line's) with that preset and quality: segmenting changes no setting."""
    if name == "libx264":
        # Closed GOPs: no frame of a segment may reference one of another.
        params = "open-gop=0" + extra
        opts = {"preset": "ultrafast" if lossless else cfg.preset, "x264-params": params}
        opts.update({"qp": "0"} if lossless else {"crf": str(cfg.quality)})
        return opts
    if name == "libx265":
        params = f"open-gop=0:log-level=error:repeat-headers=1{extra}"
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
    color: ColorTags | None = None,
    source_pix_fmt: str | None = None,
    sample_aspect: tuple[int, int] | None = None,
    hdr: HdrInfo | None = None,
) -> av.video.stream.VideoStream:
    # The source's bit depth and chroma (odd sizes as 4:4:4), the same for every segment (see pixfmt.py).
    pix_fmt = output_format(name, source_pix_fmt, width, height)
    options = encoder_options(name, cfg, lossless, hdr_params(name, hdr))
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
