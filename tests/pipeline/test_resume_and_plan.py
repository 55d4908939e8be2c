"""Resume skips verified segments; plans are deterministic, balanced and honour their limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.cases import FRAMES, blur_config
from support.media import decode
from videojob.pipeline import stages
from videojob.pipeline.config import SegmentationConfig
from videojob.pipeline.plan import split_by_cost
from videojob.pipeline.segment import segment_paths


def test_resume_skips_finished_segments_and_redoes_damaged_ones(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    plan = stages.detect_and_plan(clip, work, blur_config(3))
    first = [stages.process_segment(clip, work, s.index) for s in plan.segments]
    assert not any(r.skipped for r in first)
    mtimes = {i: os.stat(segment_paths(work, i)[0]).st_mtime_ns for i in range(3)}
    # damage segment 1: its checksum no longer matches, so it must be encoded again
    media1 = segment_paths(work, 1)[0]
    media1.write_bytes(media1.read_bytes()[:-10])
    second = [stages.process_segment(clip, work, s.index) for s in plan.segments]
    assert [r.skipped for r in second] == [True, False, True]
    assert os.stat(segment_paths(work, 0)[0]).st_mtime_ns == mtimes[0]
    assert os.stat(segment_paths(work, 2)[0]).st_mtime_ns == mtimes[2]
    report = stages.finalize(clip, work, tmp_path / "out.mp4")
    assert report.frames_out == FRAMES
    assert len(decode(tmp_path / "out.mp4")[1]) == FRAMES


def test_finalize_refuses_a_missing_segment(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    plan = stages.detect_and_plan(clip, work, blur_config(2))
    stages.process_segment(clip, work, 0)
    assert len(plan.segments) == 2
    with pytest.raises(Exception, match="segment 1 is missing"):
        stages.finalize(clip, work, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_plan_is_deterministic(clip: Path, tmp_path: Path) -> None:
    a = stages.detect_and_plan(clip, tmp_path / "a", blur_config(5))
    b = stages.detect_and_plan(clip, tmp_path / "b", blur_config(5))
    assert a.model_dump(exclude={"detect_seconds"}) == b.model_dump(exclude={"detect_seconds"})
    assert [s.start for s in a.segments] == sorted(s.start for s in a.segments)
    assert a.segments[0].start == 0 and a.segments[-1].end == FRAMES
    assert all(x.end == y.start for x, y in zip(a.segments, a.segments[1:], strict=False))


def test_split_balances_cost_not_frames() -> None:
    # the first half of the frames carries regions (cost 2), the second half does not (cost 1)
    costs = [2.0] * 50 + [1.0] * 50
    ends = split_by_cost(costs, 2, min_frames=1, cuts=[], window=0)
    assert ends[0] in range(37, 39)  # 75 of 150 cost units
    assert ends[-1] == 100


def test_split_snaps_to_a_scene_cut_within_the_window() -> None:
    ends = split_by_cost([1.0] * 100, 2, min_frames=1, cuts=[45], window=6)
    assert ends[0] == 45
    ends = split_by_cost([1.0] * 100, 2, min_frames=1, cuts=[30], window=6)
    assert ends[0] == 50


def test_segment_limits(clip: Path, tmp_path: Path) -> None:
    cfg = blur_config(7)
    cfg.segmentation = SegmentationConfig(
        segments=None, min_segments=3, max_segments=4, min_frames_per_segment=4, target_seconds_per_segment=0.1
    )
    plan = stages.detect_and_plan(clip, tmp_path / "w", cfg)
    assert len(plan.segments) == 4  # auto would want 30, max_segments caps it
    cfg.segmentation = SegmentationConfig(segments=50, min_frames_per_segment=12)
    plan = stages.detect_and_plan(clip, tmp_path / "w2", cfg)
    assert len(plan.segments) == FRAMES // 12
    assert min(s.frames for s in plan.segments) >= 12


def test_scene_cut_found_in_the_demo_sample(tmp_path: Path) -> None:
    from videojob.pipeline.sample import make_sample

    sample = make_sample(tmp_path / "s.mp4", width=320, height=180, seconds=2.0, fps=25)
    cfg = blur_config(2)
    cfg.segmentation.scene_snap_window = 10
    plan = stages.detect_and_plan(sample, tmp_path / "w", cfg)
    # The sample cuts half way (frame 25); x264 codes the cut intra a B-run later, and that is what the packets show.
    (cut,) = plan.scene_cuts
    assert 25 <= cut <= 27
    assert plan.segments[1].start == cut
