"""Every operation, HEVC, and the finalize-encode mode, end to end on the shared clip."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from support.cases import FRAMES, HEIGHT, REGION_PX, WIDTH, blur_config
from support.media import audio_span, decode, psnr, region_mask
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.runner import run_local

OUTSIDE = region_mask(WIDTH, HEIGHT, [REGION_PX], margin=8)
INSIDE = ~region_mask(WIDTH, HEIGHT, [REGION_PX])


@pytest.fixture(scope="module")
def source(clip: Path) -> list:
    return decode(clip)[1]


@pytest.mark.parametrize("op", ["pixelate", "fill", "inpaint", "none"])
def test_operation_end_to_end(clip: Path, source: list, tmp_path: Path, op: str) -> None:
    out = tmp_path / f"{op}.mp4"
    report = run_local(clip, out, blur_config(3, op=op), workers=2)
    _, frames, _ = decode(out)
    assert len(frames) == report.frames_out == FRAMES
    outside = min(psnr(a, b, OUTSIDE) for a, b in zip(source, frames, strict=True))
    inside = max(psnr(a, b, INSIDE) for a, b in zip(source, frames, strict=True))
    assert outside >= 38.0, f"{op}: {outside:.1f} dB outside the region"
    if op == "none":
        assert inside >= 38.0, f"none changed the region ({inside:.1f} dB)"
    else:
        assert inside < 30.0, f"{op}: the region looks untouched ({inside:.1f} dB)"


def test_hevc_segments_join_by_packet_copy(clip: Path, source: list, tmp_path: Path) -> None:
    cfg = blur_config(3)
    cfg.encode.codec = "hevc"
    out = tmp_path / "hevc.mp4"
    report = run_local(clip, out, cfg, workers=2)
    assert report.encoder in ("libx265", "hevc_nvenc")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
    _, frames, _ = decode(out)
    assert len(frames) == FRAMES
    assert min(psnr(a, b, OUTSIDE) for a, b in zip(source, frames, strict=True)) >= 36.0


def test_finalize_stage_encodes_once_from_lossless_segments(clip: Path, source: list, tmp_path: Path) -> None:
    cfg = blur_config(3)
    cfg.encode.stage = "finalize"
    work = tmp_path / "work"
    out = tmp_path / "final.mp4"
    run_local(clip, out, cfg, workers=2, workdir=work)
    # segments are a lossless intermediate: outside the region they hold the source's pixels to the bit
    plan = SegmentPlan.read(work)
    seg = plan.segments[1]
    _, intermediate, _ = decode(work / "segments" / "seg-00001.mp4")
    assert len(intermediate) == seg.frames
    for i, frame in enumerate(intermediate):
        assert psnr(source[seg.start + i], frame, OUTSIDE) >= 50.0
    _, frames, _ = decode(out)
    assert len(frames) == FRAMES
    assert min(psnr(a, b, OUTSIDE) for a, b in zip(source, frames, strict=True)) >= 38.0
    assert audio_span(out) is not None
