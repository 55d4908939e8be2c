"""Bad input: a clear one-line error and no output file, for each way a video can be wrong."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from support.cases import blur_config
from support.media import SYNC, audio_span, decode, make_audio_only, make_clip, psnr, region_mask
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.probe import probe
from videojob.pipeline.runner import run_local


def assert_rejected(src: Path, out: Path, *words: str) -> None:
    with pytest.raises(BadInputError) as info:
        run_local(src, out, blur_config(2), workers=1)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith((".out", "videojob-"))], "temporary files left"


def test_missing_path(tmp_path: Path) -> None:
    assert_rejected(tmp_path / "nope.mp4", tmp_path / "out.mp4", "does not exist")


def test_not_a_video(tmp_path: Path) -> None:
    src = tmp_path / "notes.mp4"
    src.write_text("this is not a video\n" * 100)
    assert_rejected(src, tmp_path / "out.mp4", "not a readable video")


def test_empty_file(tmp_path: Path) -> None:
    src = tmp_path / "empty.mp4"
    src.touch()
    assert_rejected(src, tmp_path / "out.mp4", "empty")


@pytest.mark.parametrize("faststart", [False, True], ids=["moov-at-end", "faststart"])
def test_truncated_file(tmp_path: Path, faststart: bool) -> None:
    full = make_clip(tmp_path / "full.mp4", frames=48, faststart=faststart)
    data = full.read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) * 2 // 3])
    assert_rejected(src, tmp_path / "out.mp4", "cut.mp4")


def test_zero_frames(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "zero.avi", frames=0, audio=False, codec="mpeg4")
    assert_rejected(src, tmp_path / "out.mp4", "zero frames")


def test_audio_only(tmp_path: Path) -> None:
    src = make_audio_only(tmp_path / "tone.m4a")
    assert_rejected(src, tmp_path / "out.mp4", "no video stream", "audio")


def test_rotated_source_comes_out_upright(tmp_path: Path) -> None:
    # stored 160x120, displayed turned 90 degrees counter-clockwise (120x160), like a phone video
    src = make_clip(tmp_path / "rotated.mp4", width=160, height=120, frames=24, rotation=90)
    info = probe(src)
    assert info.rotation == 90
    assert (info.width, info.height, info.coded_width, info.coded_height) == (120, 160, 160, 120)
    out = tmp_path / "out.mp4"
    run_local(src, out, blur_config(2), workers=1)
    result = probe(out)
    assert result.rotation == 0 and (result.coded_width, result.coded_height) == (120, 160)
    # the region is where the user sees it: normalized to the upright picture
    region = (30, 40, 60, 80)  # x0, y0, x1, y1 of 0.25,0.25,0.25,0.25 on 120x160
    outside, inside = region_mask(120, 160, [region], margin=8), ~region_mask(120, 160, [region])
    _, before, _ = decode(src)
    _, after, _ = decode(out)
    assert len(after) == 24
    for a, b in zip(before, after, strict=True):
        upright = np.rot90(a)  # counter-clockwise, as players show it
        assert psnr(upright, b, outside) >= 35.0
        assert psnr(upright, b, inside) < 30.0


def test_variable_frame_rate_keeps_count_and_timing(tmp_path: Path) -> None:
    # 30 frames at alternating 40 ms and 80 ms, in a millisecond time base
    pts = [0]
    for i in range(29):
        pts.append(pts[-1] + (40 if i % 2 else 80))
    src = make_clip(tmp_path / "vfr.mkv", frames=30, pts=pts, time_base=Fraction(1, 1000), gop=10)
    info = probe(src)
    assert info.variable_frame_rate
    out = tmp_path / "out.mp4"
    run_local(src, out, blur_config(3), workers=2)
    src_pts, _, src_tb = decode(src)
    out_pts, frames, out_tb = decode(out)
    assert len(frames) == 30
    assert [round(float(p * src_tb), 3) for p in src_pts] == [round(float(p * out_tb), 3) for p in out_pts]
    a, b = audio_span(src), audio_span(out)
    assert a is not None and b is not None
    assert abs(a[0] - b[0]) <= SYNC and abs(a[1] - b[1]) <= 0.04


def test_cli_reports_one_line_and_exit_code(tmp_path: Path) -> None:
    videojob = Path(sys.executable).with_name("videojob")
    src = tmp_path / "notes.mp4"
    src.write_text("not a video")
    result = subprocess.run(
        [str(videojob), "run", str(src), "-o", str(tmp_path / "o.mp4"), "--region", "0.1,0.1,0.2,0.2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("videojob: error: "), result.stderr
    assert not (tmp_path / "o.mp4").exists()
