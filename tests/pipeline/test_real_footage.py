"""Real camera footage through `videojob run`, next to the synthetic clip.

The clips ship in Debian's opencv-doc package (OpenCV's sample data; `make system-deps` installs it):
  * vtest.avi: a fixed surveillance camera over a path with people walking, 768x576, MS-MPEG4 v3, 10 fps,
    795 frames (80 s);
  * tree.avi: a handheld shot of a tree through a window, 320x240 Cinepak (RGB), 68 pictures over 29.6 s: the
    AVI holds 444 index entries, the rest empty ones for dropped frames, so its timing is irregular (VFR);
and, not camera footage but a real file of the commonest old kind: Megamind.avi, a film trailer as DivX-style
MPEG-4 with B-frames in AVI (which has no presentation times: the decoder's order is the display order), 720x528,
23.976 fps, with AC-3 audio.
Each runs as 3 segments with a region blurred: every frame comes out once, at the time FFmpeg gives it in the
source (ffprobe's best-effort timestamps) to the millisecond, the output decodes from start to end, what the
source says about its pictures (size, aspect, chroma) is kept, and the audio starts where it did, to 1 ms.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from support.media import SYNC, decode, psnr, region_mask
from videojob.pipeline.pixfmt import output_format
from videojob.pipeline.probe import probe

VIDEOJOB = Path(sys.executable).with_name("videojob")
DATA = Path("/usr/share/doc/opencv-doc/examples/data")
REAL = {"vtest": DATA / "vtest.avi", "tree": DATA / "tree.avi", "megamind": DATA / "Megamind.avi"}
REGION = (0.25, 0.25, 0.25, 0.25)


@pytest.fixture(scope="module", params=["synthetic", *REAL])
def job(request: pytest.FixtureRequest, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(source, output) of one `videojob run`, shared by the checks."""
    src = clip if request.param == "synthetic" else REAL[request.param]
    if not src.is_file():
        pytest.skip(f"{src} is missing: Debian package opencv-doc is not installed (make system-deps installs it)")
    tmp = tmp_path_factory.mktemp(request.param)
    region = ",".join(map(str, REGION))
    cmd = [VIDEOJOB, "run", src, "-o", tmp / "out.mp4", "--region", region, "--padding", "0", "--segments", "3"]
    cmd += ["--workers", "2", "--workdir", tmp / "work"]
    result = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return src, tmp / "out.mp4"


def test_real_footage_runs_frame_exact(job: tuple[Path, Path]) -> None:
    source, out = job
    _, src_frames, _ = decode(source)  # in display order
    out_pts, out_frames, out_tb = decode(out)  # every frame decodes, start to end
    assert len(out_frames) == len(src_frames) == probe(source).frames
    # The source's own times, each to the millisecond (tree.avi's are irregular).
    src_s = ffprobe_times(source)
    out_ms = [round(float((p - out_pts[0]) * out_tb) * 1000) for p in out_pts]
    assert len(src_s) == len(out_ms) and src_s[0] is not None
    # FFmpeg has no time for Megamind.avi's last frame (flushed out of the decoder): only later than the one before.
    assert [None if t is None else round((t - src_s[0]) * 1000) for t in src_s] == [
        None if t is None else ms for t, ms in zip(src_s, out_ms, strict=True)
    ]
    assert all(b > a for a, b in itertools.pairwise(out_ms))
    # Each frame is the right one, in the right place, outside the blurred region.
    h, w = src_frames[0].shape[:2]
    x, y, rw, rh = (round(v * s) for v, s in zip(REGION, (w, h, w, h), strict=True))
    outside = region_mask(w, h, [(x, y, x + rw, y + rh)], margin=8)
    worst = min(psnr(a, b, outside) for a, b in zip(src_frames, out_frames, strict=True))
    # (36-39 dB at worst here; a frame off by one scores 26 dB on average, at best 30-38 on vtest's still scenes)
    assert worst >= 34.0, f"a frame outside the region differs from the source's: {worst:.1f} dB"
    inside = ~region_mask(w, h, [(x, y, x + rw, y + rh)])
    assert float(np.median([psnr(a, b, inside) for a, b in zip(src_frames, out_frames, strict=True)])) < 30.0


def ffprobe_times(path: Path) -> list[float | None]:
    """Every video frame's time as FFmpeg itself gives it (best effort: AVI has no presentation times); None where
    FFmpeg has none."""
    entries = "frame=best_effort_timestamp_time"
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "csv=p=0", path]
    lines = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, check=True).stdout.split()
    return [None if line.strip(",") == "N/A" else float(line.strip(",")) for line in lines]


def test_real_footage_starts_in_sync(job: tuple[Path, Path]) -> None:
    """Video and audio start where they did, to 1 ms, the file's start as zero (Megamind.avi's sound starts 42 ms
    before its first picture: an output timeline that started at the picture cut that sound off)."""
    source, out = job
    first = ffprobe_times(source)[0]
    out_pts, _, out_tb = decode(out)
    assert first is not None and abs(float(out_pts[0] * out_tb) - first) <= SYNC
    before, after = audio_start(source), audio_start(out)
    if before is None:
        assert after is None
        return
    assert after is not None, "the audio stream was lost"
    assert abs(after - before) <= SYNC, f"audio starts at {after:.4f} s, the source's at {before:.4f} s"


def audio_start(path: Path) -> float | None:
    """The first decoded audio frame's time. Megamind.avi's AC-3 has damaged frames (FFmpeg says so too): they are
    passed over, in the source as in the output, which holds the same packets."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        stream = c.streams.audio[0]
        for packet in c.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.InvalidDataError:
                continue
            if frames:
                return float(frames[0].pts * frames[0].time_base)
    raise AssertionError(f"{path}: no audio frame decodes")


def test_real_footage_keeps_what_the_source_says(job: tuple[Path, Path]) -> None:
    source, out = job
    before, after = probe(source), probe(out)
    assert (after.width, after.height) == (before.width, before.height)
    assert (after.sample_aspect or (1, 1)) == (before.sample_aspect or (1, 1))
    # Chroma and depth as the encoder can hold them (tree.avi is RGB: 4:4:4, not cut to 4:2:0).
    assert after.pix_fmt == output_format("libx264", before.pix_fmt, before.width, before.height)
    assert after.rotation == 0 and after.variable_frame_rate == before.variable_frame_rate
    assert after.duration == pytest.approx(before.duration, abs=0.001)
