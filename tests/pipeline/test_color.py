"""The output keeps the source's colour description (primaries, transfer, matrix, range), or players guess.

Sources are tagged with the ffmpeg command line's -color_* options on a clip made in the test.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from support.cases import blur_config
from support.media import decode, ffmpeg
from videojob.pipeline.runner import run_local

BT709, BT470BG, SMPTE170M = 1, 5, 6


def tagged(clip: Path, out: Path, *, primaries: str, trc: str, matrix: str, full: bool) -> Path:
    pix = ["-pix_fmt", "yuvj420p"] if full else ["-pix_fmt", "yuv420p"]
    rng = ["-color_range", "pc" if full else "tv"]
    tags = ["-color_primaries", primaries, "-color_trc", trc, "-colorspace", matrix]
    ffmpeg("-i", clip, *pix, *rng, *tags, "-c:v", "libx264", "-crf", "12", "-c:a", "copy", out)
    return out


def tags_of(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range


@pytest.mark.parametrize("stage", ["segment", "finalize"])
def test_bt709_tags_survive_segments_and_concat(clip: Path, tmp_path: Path, stage: str) -> None:
    source = tagged(clip, tmp_path / "bt709.mp4", primaries="bt709", trc="bt709", matrix="bt709", full=False)
    assert tags_of(source) == (BT709, BT709, BT709, 1)
    config = blur_config(3)
    config.encode.stage = stage  # type: ignore[assignment]
    out = tmp_path / "out.mp4"
    run_local(source, out, config, workers=2)
    assert tags_of(out) == (BT709, BT709, BT709, 1)


def test_full_range_source_keeps_its_colours(clip: Path, tmp_path: Path) -> None:
    """A full-range (yuvj420p) source is encoded as limited range, tagged so, and looks the same."""
    source = tagged(clip, tmp_path / "full.mp4", primaries="bt470bg", trc="smpte170m", matrix="bt470bg", full=True)
    assert tags_of(source) == (BT470BG, SMPTE170M, BT470BG, 2)
    out = tmp_path / "out.mp4"
    run_local(source, out, blur_config(2), workers=2)
    assert tags_of(out) == (BT470BG, SMPTE170M, BT470BG, 1)
    _, src, _ = decode(source)
    _, dst, _ = decode(out)
    # Far from the blurred region: the same colours after the range conversion, within coding noise.
    diff = np.abs(src[0][-20:, :40].astype(int) - dst[0][-20:, :40]).mean()
    assert diff < 3, f"colours changed by {diff:.1f} levels on average"
