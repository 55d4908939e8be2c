"""Odd frame sizes are encoded at the source's exact size (as 4:4:4: H.264/HEVC crop 4:2:0 in whole chroma
samples), not refused (issue 11). The source is a tiny FFV1 clip made here with the ffmpeg command line."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from support.cases import blur_config
from support.media import ffmpeg
from videojob.pipeline.runner import run_local


def video_facts(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height, sum(1 for _ in c.decode(s))


@pytest.mark.parametrize("stage", ["segment", "finalize"])
def test_odd_size_is_encoded_exactly(tmp_path: Path, stage: str) -> None:
    source = tmp_path / "odd.mkv"  # FFV1 holds 4:2:0 at an odd size; H.264/HEVC cannot
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=s=65x49:r=12", "-frames:v", "12", "-pix_fmt", "yuv420p", "-c:v", "ffv1", source
    )
    config = blur_config(2)
    config.encode.stage = stage  # type: ignore[assignment]
    out = tmp_path / "out.mp4"
    run_local(source, out, config, workers=2)
    assert video_facts(source)[:2] == (65, 49)
    width, height, frames = video_facts(out)
    assert (width, height, frames) == (65, 49, 12)
    with av.open(str(source)) as a, av.open(str(out)) as b:
        src = [f.to_ndarray(format="gray") for f in a.decode(video=0)]
        dst = [f.to_ndarray(format="gray") for f in b.decode(video=0)]
    # Away from the blurred region (the clip's centre), the same picture: the right column and bottom row too.
    diff = np.abs(src[5][-12:, :].astype(int) - dst[5][-12:, :]).mean()
    assert diff < 3, f"picture changed by {diff:.1f} levels on average"
