"""Segments keep x264's own rate control (mbtree, I/P and P/B QP ratios, scene cuts), the same as one encode's.

Turning it off for "seam safety" cost 1.6-5.6x the bytes at the same CRF (bench/bench_seams.py); the seams are
handled by the encoder's lookahead past each segment's end instead (pipeline/segment.py).

x264 writes its settings into the stream (an SEI message "x264 - core ... options: ..."), so the test reads them
from the output file itself rather than trusting the options the pipeline meant to pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import av
from support.cases import FRAMES, blur_config
from videojob.pipeline.runner import run_local


def x264_options(path: Path) -> dict[str, str]:
    """The settings of every x264 encode in the file (one per segment); they must all be the same."""
    found: set[bytes] = set()
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            found.update(re.findall(rb"options: ([^\x00]*)", bytes(packet)))
    assert len(found) == 1, f"segments were encoded with different settings: {found}"
    return dict(item.split("=", 1) for item in found.pop().decode().split() if "=" in item)


def test_segments_keep_x264_rate_control(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "three.mp4"
    report = run_local(clip, out, blur_config(3), workers=1)
    assert report.segments == 3 and report.frames_out == FRAMES
    opts = x264_options(out)  # one set of settings for all three segments
    assert opts["mbtree"] == "1" and opts["ip_ratio"] == "1.40" and opts["aq"].startswith("1")
    assert opts["scenecut"] == "40" and opts["open_gop"] == "0"


def test_one_segment_has_the_same_settings(clip: Path, tmp_path: Path) -> None:
    three, one = tmp_path / "three.mp4", tmp_path / "one.mp4"
    run_local(clip, three, blur_config(3), workers=1)
    report = run_local(clip, one, blur_config(1), workers=1)
    assert report.segments == 1 and report.frames_out == FRAMES
    assert x264_options(one) == x264_options(three)
