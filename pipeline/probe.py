"""What a video is: streams, timing, exact frame count, keyframes, rotation. Demux only; no decode."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
from pydantic import BaseModel

from .errors import BadInputError
from .pixfmt import HLG, PQ, HdrInfo, read_hdr, wanted_format
from .rotate import display_size


class StreamInfo(BaseModel):
    index: int
    type: str
    codec: str
    language: str | None = None


class ColorTags(BaseModel):
    """The stream's colour description (FFmpeg's AVColor* enum values; 2 = unspecified), kept on the output."""

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    range: int = 0  # 0 unspecified, 1 limited (MPEG), 2 full (JPEG)


class ProbeInfo(BaseModel):
    path: str
    size: int
    container: str
    video_index: int
    codec: str
    width: int  # as displayed: every stage works on upright frames (see rotate.py)
    height: int
    coded_width: int  # as stored in the stream
    coded_height: int
    pix_fmt: str | None
    time_base: tuple[int, int]  # numerator, denominator
    fps: float  # average frame rate
    rate: tuple[int, int]  # the rate an encoder is opened with
    variable_frame_rate: bool
    frames: int  # exact: counted packets
    duration: float  # seconds, first frame to end of last frame
    start_pts: int
    pts: list[int]  # presentation timestamp of every frame, in display order (frame index = position)
    keyframes: list[int]  # frame indexes of keyframes
    rotation: int  # degrees counter-clockwise, from the display matrix; applied to the pixels, not kept
    audio: list[StreamInfo]
    subtitles: list[StreamInfo]
    color: ColorTags = ColorTags()  # default for plans written before it was recorded
    # Sample (pixel) aspect ratio of the upright frames, None when the source does not say: anamorphic video keeps
    # its shape only if the output says it too.
    sample_aspect: tuple[int, int] | None = None
    # Static HDR metadata (mastering display, content light level) of the first frame, written into the output.
    hdr: HdrInfo | None = None

    @property
    def time_base_fraction(self) -> Fraction:
        return Fraction(*self.time_base)

    def seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base_fraction)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise BadInputError(f"input {path} does not exist")
    if not path.is_file():
        raise BadInputError(f"input {path} is not a regular file")
    if path.stat().st_size == 0:
        raise BadInputError(f"input {path} is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise BadInputError(f"input {path} is not a readable video file ({exc.__class__.__name__}: {exc})") from exc


def probe(path: Path | str) -> ProbeInfo:
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            raise BadInputError(f"input {path} has no video stream (found: {kinds})")
        video = container.streams.video[0]
        ctx = video.codec_context
        if ctx.width <= 0 or ctx.height <= 0:
            raise BadInputError(f"input {path}: video stream has no frame size; the file is damaged")
        audio = [
            StreamInfo(index=s.index, type="audio", codec=s.codec_context.name, language=s.language)
            for s in container.streams.audio
        ]
        subtitles = [
            StreamInfo(index=s.index, type="subtitle", codec=s.codec_context.name, language=s.language)
            for s in container.streams.subtitles
        ]
        entries: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(video):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    raise BadInputError(
                        f"input {path}: video packets carry no timestamps; remux it into MP4 or MKV first"
                    )
                entries.append((ts, bool(packet.is_keyframe)))
        except av.error.FFmpegError as exc:
            raise BadInputError(f"input {path} is truncated or corrupt after {len(entries)} frames ({exc})") from exc
        if not entries:
            raise BadInputError(f"input {path} has a video stream with zero frames")
        declared = video.frames  # the container's own count (MP4 sample table); 0 when unknown
        if declared and len(entries) < declared:
            raise BadInputError(
                f"input {path} is truncated: it declares {declared} video frames but holds {len(entries)}"
            )
        rotation = _rotation(container, video)
        if rotation % 90:
            raise BadInputError(
                f"input {path} asks to be displayed rotated by {rotation} degrees; only multiples of 90 are "
                "supported: rotate it first"
            )
        width, height = display_size(ctx.width, ctx.height, rotation)
        time_base = video.time_base
        rate = video.average_rate or video.guessed_rate or video.base_rate
        # Read everything from the stream while the container is open: after close it points at freed memory.
        facts = {
            "container": container.format.name,
            "video_index": video.index,
            "codec": ctx.name,
            "width": width,
            "height": height,
            "coded_width": ctx.width,
            "coded_height": ctx.height,
            "pix_fmt": ctx.format.name if ctx.format else None,
            # The bitstream's own (exact: Matroska stores a rounded display size), else the container's.
            "sample_aspect": _sample_aspect(ctx.sample_aspect_ratio or video.sample_aspect_ratio, rotation),
            "color": ColorTags(
                primaries=ctx.color_primaries, transfer=ctx.color_trc, matrix=ctx.colorspace, range=ctx.color_range
            ),
        }
    assert time_base is not None
    entries.sort()
    pts = [p for p, _ in entries]
    if len(set(pts)) != len(pts):
        raise BadInputError(f"input {path}: several video frames share one timestamp; remux it first")
    deltas = {b - a for a, b in itertools.pairwise(pts)}
    # One tick of jitter comes from rounding a constant rate into the time base; more is a variable rate.
    variable = len(deltas) > 1 and (max(deltas) - min(deltas)) > 1
    if rate is None or rate <= 0:
        rate = Fraction(len(pts) - 1, 1) / (Fraction(pts[-1] - pts[0]) * time_base) if len(pts) > 1 else Fraction(25)
    last_duration = min(deltas) if deltas else round(1 / (rate * time_base))
    duration = float((pts[-1] - pts[0] + last_duration) * time_base)
    fps = (len(pts) / duration) if duration > 0 else float(rate)
    hdr = None
    pix_fmt, color = facts["pix_fmt"], facts["color"]
    assert isinstance(color, ColorTags)
    if color.transfer in (PQ, HLG) or wanted_format(str(pix_fmt or ""), 2, 2).endswith("10le"):
        try:
            hdr = read_hdr(path, int(str(facts["video_index"])))
        except av.error.FFmpegError as exc:
            raise BadInputError(f"input {path}: its first video frame cannot be decoded ({exc})") from exc
    return ProbeInfo(
        path=str(path),
        hdr=hdr,
        size=path.stat().st_size,
        **facts,
        time_base=(time_base.numerator, time_base.denominator),
        fps=round(fps, 6),
        rate=(rate.numerator, rate.denominator),
        variable_frame_rate=variable,
        frames=len(pts),
        duration=duration,
        start_pts=pts[0],
        pts=pts,
        keyframes=[i for i, (_, key) in enumerate(entries) if key],
        rotation=rotation,
        audio=audio,
        subtitles=subtitles,
    )


def _rotation(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> int:
    """Rotation in degrees from the first frame's display matrix (0 when there is none)."""
    try:
        container.seek(0)
        for frame in container.decode(video):
            return round(frame.rotation or 0) % 360
    except av.error.FFmpegError:
        return 0
    return 0


def _sample_aspect(sar: Fraction | None, rotation: int) -> tuple[int, int] | None:
    """The SAR as (num, den) for upright frames: a quarter turn swaps width and height, so the pixel's shape too."""
    if not sar or sar <= 0:
        return None
    if rotation % 180:
        sar = 1 / sar
    return (sar.numerator, sar.denominator)
