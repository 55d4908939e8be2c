"""run_local's own arguments: the segment count it is given, and an output directory that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cases import FRAMES, blur_config
from support.media import decode
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.runner import run_local


def test_segments_argument_overrides_the_config(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    report = run_local(clip, tmp_path / "out.mp4", blur_config(2), workers=1, segments=4, workdir=work)
    assert report.segments == 4
    assert len(SegmentPlan.read(work).segments) == 4
    assert len(decode(tmp_path / "out.mp4")[1]) == FRAMES


def test_missing_output_directory_is_one_clear_line(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    with pytest.raises(BadInputError, match="does not exist") as info:
        run_local(clip, out, blur_config(1), workers=1)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_stages_without_a_readable_plan_say_so_in_one_line(clip: Path, tmp_path: Path) -> None:
    from videojob.pipeline import stages

    for text, words in ((None, "does not exist"), ("{}", "input: Field required"), ("{", "Invalid JSON")):
        if text is not None:
            (tmp_path / "plan.json").write_text(text)
        with pytest.raises(BadInputError, match=words) as info:
            stages.process_segment(clip, tmp_path, 0)
        assert "\n" not in str(info.value)
