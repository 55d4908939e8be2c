"""Real camera footage through `videojob run`, next to the synthetic clip.

The clips ship in Debian's opencv-doc package (OpenCV's sample data; `make system-deps` installs it):
  * vtest.avi: a fixed surveillance camera over a path with people walking, 768x576, MS-MPEG4 v3, 10 fps,
    795 frames (80 s);
  * tree.avi: a handheld shot of a tree through a window, 320x240 Cinepak (RGB), 68 pictures over 29.6 s: the
    AVI holds 444 index entries, the rest empty ones for dropped frames, so its timing is irregular (VFR).
Each runs as 3 segments with a region blurred: every frame comes out once, at its own time to the millisecond, the
output decodes from start to end, and what the source says about its pictures (size, aspect, chroma) is kept.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.media import decode, psnr, region_mask
from videojob.pipeline.pixfmt import output_format
from videojob.pipeline.probe import probe

VIDEOJOB = Path(sys.executable).with_name("videojob")
DATA = Path("/usr/share/doc/opencv-doc/examples/data")
REAL = {"vtest": DATA / "vtest.avi", "tree": DATA / "tree.avi"}
REGION = (0.25, 0.25, 0.25, 0.25)


@pytest.fixture(scope="module", params=["synthetic", "vtest", "tree"])
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
    src_pts, src_frames, src_tb = decode(source)
    out_pts, out_frames, out_tb = decode(out)  # every frame decodes, start to end
    assert len(out_frames) == len(src_frames) == probe(source).frames
    # The source's own times, each to the millisecond (tree.avi's are irregular).
    src_ms = [round(float((p - src_pts[0]) * src_tb) * 1000) for p in src_pts]
    out_ms = [round(float((p - out_pts[0]) * out_tb) * 1000) for p in out_pts]
    assert out_ms == src_ms
    # Each frame is the right one, in the right place, outside the blurred region.
    h, w = src_frames[0].shape[:2]
    x, y, rw, rh = (round(v * s) for v, s in zip(REGION, (w, h, w, h), strict=True))
    outside = region_mask(w, h, [(x, y, x + rw, y + rh)], margin=8)
    worst = min(psnr(a, b, outside) for a, b in zip(src_frames, out_frames, strict=True))
    # (36-39 dB at worst here; a frame off by one scores 26 dB on average, at best 30-38 on vtest's still scenes)
    assert worst >= 34.0, f"a frame outside the region differs from the source's: {worst:.1f} dB"
    inside = ~region_mask(w, h, [(x, y, x + rw, y + rh)])
    assert float(np.median([psnr(a, b, inside) for a, b in zip(src_frames, out_frames, strict=True)])) < 30.0


def test_real_footage_keeps_what_the_source_says(job: tuple[Path, Path]) -> None:
    source, out = job
    before, after = probe(source), probe(out)
    assert (after.width, after.height) == (before.width, before.height)
    assert (after.sample_aspect or (1, 1)) == (before.sample_aspect or (1, 1))
    # Chroma and depth as the encoder can hold them (tree.avi is RGB: 4:4:4, not cut to 4:2:0).
    assert after.pix_fmt == output_format("libx264", before.pix_fmt, before.width, before.height)
    assert after.rotation == 0 and after.variable_frame_rate == before.variable_frame_rate
    assert after.duration == pytest.approx(before.duration, abs=0.001)
