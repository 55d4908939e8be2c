"""Frame-exact decoding of [start, end): seek to the keyframe at or before start, decode, drop the lead-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.codec.hwaccel import HWAccel
from av.stream import Discard

from .errors import BadInputError
from .hwdecode import decoded_on_device, to_software_layout
from .objectstore import ObjectURL, av_input
from .probe import ProbeInfo
from .rotate import upright


@dataclass
class DecoderUsed:
    """Filled in by iter_frames: "nvdec" once a frame came out of NVDEC, else "software"."""

    name: str = "software"


def keyframe_at_or_before(info: ProbeInfo, index: int) -> int:
    return info.index.keyframe_at_or_before(index)


def stamped(frames: Iterator[av.VideoFrame], info: ProbeInfo) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """Each decoded frame with its presentation time in stream ticks (None: unknown).

    AVI has no presentation times: its demuxer numbers packets in storage (decoding) order and guesses the rest, so
    with B-frames (DivX/Xvid) decoded frames carry shuffled ones (1, 2, 3, 5, 4, ...). They come out of the decoder
    in display order, and the number of the packet that completed each is the right time (FFmpeg's best-effort
    timestamp); the last one, out at the flush, has none and is the next frame of the index.
    """
    if info.container != "avi":
        yield from ((frame, frame.pts) for frame in frames)
        return
    last: int | None = None
    for frame in frames:
        if frame.dts is not None:
            last = int(frame.dts)
        elif last is not None:
            idx = info.index.index_of(last)
            last = int(info.pts[idx + 1]) if idx is not None and idx + 1 < info.frames else None
        yield frame, last


def iter_frames(
    path: Path | str | ObjectURL,
    info: ProbeInfo,
    start: int,
    end: int,
    threads: int = 0,
    hwaccel: HWAccel | None = None,
    used: DecoderUsed | None = None,
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield (frame index, upright frame) for every frame of [start, end), in order, each exactly once.

    Frames are identified by their presentation timestamp, never by counting after a seek: a seek lands on a
    keyframe, and counting from there would be off by the frames before it.

    `hwaccel` (see hwdecode.choose_hwaccel) decodes with NVDEC where the stream allows it; its frames come back in
    the software decoder's layout (`info.pix_fmt`), so callers see the same frames either way. `used` is told
    which decoder produced them.
    """
    if not 0 <= start <= end <= info.frames:
        raise ValueError(f"frame range [{start}, {end}) is outside 0..{info.frames}")
    if start == end:
        return
    frame_index = info.index  # timestamps to frame indexes by binary search: no map of every frame per call
    software_format = info.pix_fmt or "yuv420p"
    key = keyframe_at_or_before(info, start)
    expected = start
    while True:
        with av.open(av_input(path), "r", hwaccel=hwaccel) as container:
            stream = container.streams.video[0]
            for other in container.streams:
                if other.index != stream.index:
                    # Not even read: MP4/MOV demuxers skip a discarded stream's samples, and an object's audio
                    # megabytes away from the video it goes with is never downloaded.
                    other.discard = Discard.all
            stream.thread_type = "AUTO"
            if threads:
                stream.codec_context.thread_count = threads
            on_device: bool | None = None if hwaccel is not None else False
            if key > 0:
                container.seek(int(info.pts[key]), stream=stream, backward=True, any_frame=False)
            restart = False
            try:
                for frame, stamp in stamped(container.decode(stream), info):
                    if stamp is None:
                        continue
                    if on_device is None:
                        # The decoder picks NVDEC or its software fallback when it sees the stream's first header.
                        on_device = decoded_on_device(stream.codec_context, frame, software_format)
                        if used is not None and on_device:
                            used.name = "nvdec"
                    idx = frame_index.index_of(stamp)
                    if idx is None or idx < expected:
                        continue
                    if idx > expected:
                        if expected == start and key > 0:
                            # Landed after `start` (open GOP or a sparse index): go one keyframe further back.
                            key = keyframe_at_or_before(info, key - 1)
                            restart = True
                            break
                        raise BadInputError(f"{path}: frame {expected} cannot be decoded (stream is damaged)")
                    if on_device and frame.format.name != software_format:
                        frame = to_software_layout(frame, software_format)
                    yield idx, upright(frame, info.rotation)
                    expected += 1
                    if expected >= end:
                        return
            except av.error.FFmpegError as exc:
                raise BadInputError(f"{path}: decoding failed at frame {expected} ({exc})") from exc
            if not restart and expected == start and key > 0:
                # Nothing at or after `start` came out: the seek overshot. MPEG-TS seeks by decoding timestamp and
                # lands just past the keyframe, so the decoder skips to the next one (or to the end).
                key = keyframe_at_or_before(info, key - 1)
                restart = True
        if not restart:
            raise BadInputError(f"{path} is truncated: frame {expected} of {info.frames} could not be decoded")


def iter_arrays(
    path: Path | str | ObjectURL, info: ProbeInfo, start: int, end: int
) -> Iterator[tuple[int, np.ndarray]]:
    for idx, frame in iter_frames(path, info, start, end):
        yield idx, frame.to_ndarray(format="bgr24")
