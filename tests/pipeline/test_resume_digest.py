"""Resume trusts a finished segment only when it was made for this plan and this job config, frames [start, end).

A `--workdir` rerun (or a retried pod) with another operation or other regions used to keep the old segments: the
checksum of the media matched, and nothing tied the media to what it was made for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.cases import REGION_PX, blur_config
from support.media import decode, psnr, region_mask
from videojob.pipeline import stages
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.segment import SegmentResult, segment_paths

VIDEOJOB = Path(sys.executable).with_name("videojob")


def videojob_run(clip: Path, out: Path, work: Path, *options: str) -> None:
    command = [str(VIDEOJOB), "run", str(clip), "-o", str(out), "--workdir", str(work), "--workers", "1"]
    command += ["--segments", "2", "--padding", "0", "--quality", "10", *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr


def media_mtimes(work: Path) -> list[int]:
    return [os.stat(segment_paths(work, i)[0]).st_mtime_ns for i in range(2)]


def inside(frames: list[np.ndarray], other: list[np.ndarray], width: int, height: int) -> float:
    """The lowest PSNR inside the region over all frames."""
    mask = ~region_mask(width, height, [REGION_PX])
    return min(psnr(a, b, mask) for a, b in zip(frames, other, strict=True))


def test_rerun_with_another_operation_redoes_the_segments(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    region = ("--region", "0.25,0.25,0.25,0.25")
    videojob_run(clip, tmp_path / "blur.mp4", work, "--op", "blur", *region)
    videojob_run(clip, tmp_path / "pixelate.mp4", work, "--op", "pixelate", *region)
    videojob_run(clip, tmp_path / "fresh.mp4", tmp_path / "fresh-work", "--op", "pixelate", *region)
    _, blurred, _ = decode(tmp_path / "blur.mp4")
    _, resumed, _ = decode(tmp_path / "pixelate.mp4")
    _, fresh, _ = decode(tmp_path / "fresh.mp4")
    height, width = blurred[0].shape[:2]
    assert inside(resumed, fresh, width, height) > 45, "the rerun kept segments made with the first operation"
    assert inside(resumed, blurred, width, height) < 35, "pixelate and blur should differ inside the region"

    # The same settings again: both segments are trusted and skipped (their media is not written again).
    before = media_mtimes(work)
    videojob_run(clip, tmp_path / "again.mp4", work, "--op", "pixelate", *region)
    assert media_mtimes(work) == before


def test_rerun_with_other_regions_redoes_the_segments(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    videojob_run(clip, tmp_path / "a.mp4", work, "--region", "0.25,0.25,0.25,0.25")
    before = media_mtimes(work)
    videojob_run(clip, tmp_path / "b.mp4", work, "--region", "0.5,0.5,0.25,0.25")
    assert all(a != b for a, b in zip(before, media_mtimes(work), strict=True))
    _, a, _ = decode(tmp_path / "a.mp4")
    _, b, _ = decode(tmp_path / "b.mp4")
    height, width = a[0].shape[:2]
    assert inside(a, b, width, height) < 35, "the second region's output still blurs the first region"


def test_a_result_for_other_frames_is_redone(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    plan = stages.detect_and_plan(clip, work, blur_config(2))
    stages.process_segment(clip, work, 0)
    meta = segment_paths(work, 0)[1]
    recorded = SegmentResult.model_validate_json(meta.read_text())
    # A result that says it holds other frames than the plan's [start, end) cannot stand for this segment.
    meta.write_text(recorded.model_copy(update={"end": plan.segments[0].end + 1}).model_dump_json())
    assert stages.process_segment(clip, work, 0).skipped is False
    assert stages.process_segment(clip, work, 0).skipped is True


def test_finalize_refuses_segments_made_for_another_config(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(2))
    for i in range(2):
        stages.process_segment(clip, work, i)
    stages.detect_and_plan(clip, work, blur_config(2, op="pixelate"))  # a new plan, segments not redone
    with pytest.raises(BadInputError, match="segment 0 was made for another plan") as info:
        stages.finalize(clip, work, tmp_path / "out.mp4")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out.mp4").exists()


def test_the_digest_ignores_knobs_of_speed_alone(clip: Path, tmp_path: Path) -> None:
    plan = stages.detect_and_plan(clip, tmp_path, blur_config(2))
    digest = plan.digest(tmp_path)
    faster = plan.model_copy(deep=True)
    faster.config.encode.threads, faster.config.detector.batch, faster.detect_seconds = 7, 3, 99.0
    assert faster.digest(tmp_path) == digest  # another worker count resumes without redoing anything
    other = plan.model_copy(deep=True)
    other.config.encode.quality += 1
    assert other.digest(tmp_path) != digest
