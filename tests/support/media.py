"""Test media made with PyAV and numpy, and the measurements the tests assert on."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def ffmpeg(*args: str | Path) -> None:
    """The ffmpeg command line, for inputs PyAV cannot write (subtitle streams, late audio, colour tags).

    `make test` installs it (scripts/install-system-deps.sh); without it the tests that need it fail, not skip.
    """
    binary = shutil.which("ffmpeg")
    assert binary is not None, "the ffmpeg binary is missing: run `make system-deps` (Debian package ffmpeg)"
    subprocess.run([binary, "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True, timeout=60)


def frame_image(i: int, width: int, height: int) -> np.ndarray:
    """Textured, moving content (flat frames would make every PSNR meaningless)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.uint8)
    # smooth moving waves, like natural footage rather than noise
    img[..., 0] = 128 + 100 * np.sin((xx + 2 * i) / 9.0)
    img[..., 1] = 128 + 100 * np.sin((yy - i) / 7.0)
    img[..., 2] = 128 + 100 * np.sin((xx + yy + 3 * i) / 13.0)
    # a moving square so that motion search has something to do
    s = max(8, height // 6)
    x0 = (i * 4) % max(1, width - s)
    img[height // 3 : height // 3 + s, x0 : x0 + s] = (250, 250, 250)
    return img


def make_clip(
    path: Path,
    width: int = 160,
    height: int = 120,
    frames: int = 48,
    fps: int = 24,
    audio: bool = True,
    gop: int = 12,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    faststart: bool = False,
    crf: int = 18,
) -> Path:
    """Write a clip; `pts` + `time_base` give explicit (e.g. variable-rate) timestamps."""
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            v.options = {"g": str(gop), "crf": str(crf), "preset": "veryfast"}
        tb = time_base or Fraction(1, fps)
        v.codec_context.time_base = tb
        if rotation:
            v.set_display_rotation(rotation)
        a = out.add_stream("aac", rate=48000) if audio else None
        if frames == 0:
            out.start_encoding()  # write the header: a file with a video stream and no frames
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            duration = float(pts[-1] * tb + tb * (pts[-1] - pts[-2])) if pts is not None else frames / fps
            write_tone(out, a, duration)
    return path


def write_tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    total = int(48000 * seconds)
    for start in range(0, total, 1024):
        n = min(1024, total - start)
        t = np.arange(start, start + n) / 48000
        frame = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :], format="fltp", layout="mono"
        )
        frame.sample_rate = 48000
        frame.pts = start
        for p in stream.encode(frame):
            out.mux(p)
    for p in stream.encode(None):
        out.mux(p)


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        write_tone(out, out.add_stream("aac", rate=48000), seconds)
    return path


def decode(path: Path) -> tuple[list[int], list[np.ndarray], Fraction]:
    """Every video frame (RGB) with its pts, in display order, and the stream's time base."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts, images = [], []
        for f in c.decode(s):
            pts.append(f.pts)
            images.append(f.to_ndarray(format="rgb24"))
        assert s.time_base is not None
        return pts, images, s.time_base


def video_seconds(path: Path) -> list[float]:
    pts, _, tb = decode_pts(path)
    return [float(p * tb) for p in pts]


def decode_pts(path: Path) -> tuple[list[int], None, Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [f.pts for f in c.decode(s)]
        assert s.time_base is not None
        return pts, None, s.time_base


# How close the output's stream starts must be to the source's (seconds): 1 ms. AAC's priming (1024 samples,
# 21 ms at 48 kHz) is cut by the MP4 edit list; one frame of tolerance would not notice a lost edit list.
SYNC = 0.001


def audio_span(path: Path) -> tuple[float, float] | None:
    """(start, duration) of the first audio stream in seconds, from its decoded frames."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        start = None
        samples = 0
        for f in c.decode(s):
            if start is None:
                start = float(f.pts * f.time_base)
            samples += f.samples
        assert start is not None
        return start, samples / s.rate


def audio_onset(path: Path, level: float = 0.05) -> float:
    """When the first audio sample at least `level` loud plays (seconds): the tone's start, wherever the stream
    starts. An MPEG-TS source plays its AAC priming (silence) before it, an MP4 cuts it by its edit list."""
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.audio[0]):
            loud = np.flatnonzero(np.abs(f.to_ndarray()).max(axis=0) >= level)
            if loud.size:
                return float(f.pts * f.time_base) + int(loud[0]) / f.sample_rate
    raise AssertionError(f"{path}: no audio sample reaches {level}")


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[mask]
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def region_mask(width: int, height: int, boxes: Sequence[tuple[int, int, int, int]], margin: int = 0) -> np.ndarray:
    """True outside every (x0, y0, x1, y1) box grown by `margin` pixels (codec blocks bleed a little)."""
    mask = np.ones((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = False
    return mask
