"""Irregular variable frame rates (pauses, bursts) join across any number of segments with exact timestamps.

Each segment's encoder derives its decode timestamps from its own first frame intervals; where a segment starts
with long intervals after one that ended with short ones, the joined stream's DTS went backwards and the muxer
refused it (issue 11: `Invalid argument ... returned 22`). One segment never had a join, so it always worked.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import pytest
from support.cases import blur_config
from support.media import decode, make_clip
from videojob.pipeline.runner import run_local

# Milliseconds between frames: bursts of 10 ms, ordinary 40 ms, and pauses of 0.5 to 1 s, each next to each.
GAPS = [10, 10, 10, 500, 40, 1000, 10, 10, 700, 40, 40, 10, 900, 10, 10, 10, 600, 40, 10, 800]


def vfr_pts(frames: int) -> list[int]:
    return [0, *itertools.accumulate(GAPS[i % len(GAPS)] for i in range(frames - 1))]


def video_dts(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [p.dts for p in c.demux(c.streams.video[0]) if p.size and p.dts is not None]


@pytest.mark.parametrize("segments", [1, 3, 5])
def test_irregular_vfr_joins_with_exact_timestamps(tmp_path: Path, segments: int) -> None:
    pts = vfr_pts(40)
    src = make_clip(tmp_path / "vfr.mkv", frames=40, pts=pts, time_base=Fraction(1, 1000), gop=8, audio=False)
    out = tmp_path / "out.mp4"
    report = run_local(src, out, blur_config(segments), workers=2)
    assert report.segments == segments and report.frames_out == 40
    src_pts, _, src_tb = decode(src)
    out_pts, frames, out_tb = decode(out)
    assert len(frames) == 40
    assert [float(p * out_tb) - float(out_pts[0] * out_tb) for p in out_pts] == pytest.approx(
        [float(p * src_tb) for p in src_pts], abs=1e-6
    )
    dts = video_dts(out)
    assert len(dts) == 40 and all(b > a for a, b in itertools.pairwise(dts))
