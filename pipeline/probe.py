"""What a video is: streams, timing, exact frame count, keyframes, rotation. Demux only: the first frame is
decoded for its display matrix (and HDR side data), no other."""

from __future__ import annotations

from array import array
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from pydantic import BaseModel, PrivateAttr

from .errors import BadInputError
from .frameindex import FrameIndex
from .objectstore import Media, ObjectURL, as_media, av_input, stat
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
    # sha256 of the frame index (every frame's timestamp, the keyframes): the arrays themselves live beside the
    # plan in frames.npz (frameindex.py), which grows with the video while plan.json does not.
    frame_index: str
    rotation: int  # degrees counter-clockwise, from the display matrix; applied to the pixels, not kept
    audio: list[StreamInfo]
    subtitles: list[StreamInfo]
    color: ColorTags = ColorTags()  # default for plans written before it was recorded
    # Sample (pixel) aspect ratio of the upright frames, None when the source does not say: anamorphic video keeps
    # its shape only if the output says it too.
    sample_aspect: tuple[int, int] | None = None
    # Static HDR metadata (mastering display, content light level) of the first frame, written into the output.
    hdr: HdrInfo | None = None

    _index: FrameIndex | None = PrivateAttr(default=None)

    def attach(self, index: FrameIndex) -> None:
        self._index = index

    @property
    def index(self) -> FrameIndex:
        if self._index is None:
            raise RuntimeError("this ProbeInfo has no frame index: read the plan with SegmentPlan.read")
        return self._index

    @property
    def pts(self) -> np.ndarray:
        """Presentation timestamp of every frame, in display order (frame index = position)."""
        return self.index.pts

    @property
    def keyframes(self) -> np.ndarray:
        """Frame indexes of keyframes."""
        return self.index.keyframes

    @property
    def time_base_fraction(self) -> Fraction:
        return Fraction(*self.time_base)

    def seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base_fraction)


def _input_size(path: Media) -> int:
    """The input's size in bytes, once it is sure to be a non-empty file or object."""
    if isinstance(path, ObjectURL):
        size = stat(path).size  # a missing object or bucket, refused credentials: one line
    elif not path.exists():
        raise BadInputError(f"input {path} does not exist")
    elif not path.is_file():
        raise BadInputError(f"input {path} is not a regular file")
    else:
        size = path.stat().st_size
    if size == 0:
        raise BadInputError(f"input {path} is empty (0 bytes)")
    return size


def _open(path: Media) -> av.container.InputContainer:
    try:
        return av.open(av_input(path), mode="r")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise BadInputError(f"input {path} is not a readable video file ({exc.__class__.__name__}: {exc})") from exc


def probe(path: Path | str | ObjectURL) -> ProbeInfo:
    path = as_media(path)
    size = _input_size(path)
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
        index = _packets(container, video, path)
        if not index.frames:
            raise BadInputError(f"input {path} has a video stream with zero frames")
        declared = video.frames  # the container's own count (MP4 sample table); 0 when unknown
        # An AVI's count is of index entries, and a capture card or a codec writes an empty one for every frame it
        # dropped or repeated (the player shows the previous picture longer): not a count of pictures.
        if declared and index.frames < declared and container.format.name != "avi":
            raise BadInputError(
                f"input {path} is truncated: it declares {declared} video frames but holds {index.frames}"
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
    pts = index.pts
    steps = np.diff(pts)
    if steps.size and int(steps.min()) == 0:
        raise BadInputError(f"input {path}: several video frames share one timestamp; remux it first")
    first, last = int(pts[0]), int(pts[-1])
    # One tick of jitter comes from rounding a constant rate into the time base; more is a variable rate.
    variable = bool(steps.size) and int(steps.max()) - int(steps.min()) > 1
    if rate is None or rate <= 0:
        rate = Fraction(len(pts) - 1, 1) / (Fraction(last - first) * time_base) if len(pts) > 1 else Fraction(25)
    last_duration = int(steps.min()) if steps.size else round(1 / (rate * time_base))
    duration = float((last - first + last_duration) * time_base)
    fps = (len(pts) / duration) if duration > 0 else float(rate)
    hdr = None
    pix_fmt, color = facts["pix_fmt"], facts["color"]
    assert isinstance(color, ColorTags)
    if color.transfer in (PQ, HLG) or wanted_format(str(pix_fmt or ""), 2, 2).endswith("10le"):
        try:
            hdr = read_hdr(path, int(str(facts["video_index"])))
        except av.error.FFmpegError as exc:
            raise BadInputError(f"input {path}: its first video frame cannot be decoded ({exc})") from exc
    info = ProbeInfo(
        path=str(path),
        hdr=hdr,
        size=size,
        **facts,
        time_base=(time_base.numerator, time_base.denominator),
        fps=round(fps, 6),
        rate=(rate.numerator, rate.denominator),
        variable_frame_rate=variable,
        frames=len(pts),
        duration=duration,
        start_pts=first,
        frame_index=index.digest(),
        rotation=rotation,
        audio=audio,
        subtitles=subtitles,
    )
    info.attach(index)
    return info


def _packets(container: av.container.InputContainer, video: av.video.stream.VideoStream, path: object) -> FrameIndex:
    """Every video packet's timestamp, keyframe flag and size, by demuxing alone, sorted into display order.
    Plain arrays, not a list of objects: hours of video are a million packets."""
    stamps, sizes, keys = array("q"), array("q"), array("b")
    try:
        for packet in container.demux(video):
            if packet.size == 0:
                continue  # the demuxer's flush packet
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                raise BadInputError(f"input {path}: video packets carry no timestamps; remux it into MP4 or MKV first")
            stamps.append(ts)
            sizes.append(packet.size)
            keys.append(packet.is_keyframe)
    except av.error.FFmpegError as exc:
        raise BadInputError(f"input {path} is truncated or corrupt after {len(stamps)} frames ({exc})") from exc
    pts = np.frombuffer(stamps, np.int64)
    order = np.argsort(pts, kind="stable")
    return FrameIndex(
        pts=pts[order],
        keyframes=np.flatnonzero(np.frombuffer(keys, np.int8)[order]).astype(np.int64),
        sizes=np.frombuffer(sizes, np.int64)[order],
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
