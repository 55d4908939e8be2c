"""Scene cuts between two busy scenes are found by both planning paths, and segment boundaries snap to them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import pytest
from support.cases import blur_config
from videojob.pipeline import stages
from videojob.pipeline.detect import DetectorConfig
from videojob.pipeline.sample import LOGO_REGION, make_sample

FRAMES = 50  # 2 s at 25 fps; the sample cuts to a second random-block background at frame 25


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Full demo size: fine 8 px blocks that a very small thumbnail averages into flat grey
    return make_sample(tmp_path_factory.mktemp("scenes") / "s.mp4", width=640, height=360, seconds=2.0, fps=25)


def logo_template(sample: Path, path: Path) -> Path:
    with av.open(str(sample)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    h, w = frame.shape[:2]
    x, y, rw, rh = (int(a * b) for a, b in zip(LOGO_REGION, (w, h, w, h), strict=True))
    cv2.imwrite(str(path), frame[y : y + rh, x : x + rw])
    return path


@pytest.mark.parametrize("kind", ["static", "template"])
def test_cut_between_busy_scenes_is_found_and_snapped_to(sample: Path, tmp_path: Path, kind: str) -> None:
    cfg = blur_config(2)
    if kind == "template":  # the full decoding pass (detection on samples, scene scores on every frame)
        cfg.detector = DetectorConfig(kind="template", template=str(logo_template(sample, tmp_path / "logo.png")))
    cfg.segmentation.scene_snap_window = 10
    cfg.segmentation.min_frames_per_segment = 10
    # balanced by cost alone the boundary would be near frame 25 anyway; ask for 3 so that the cut must pull one
    cfg.segmentation.segments = 3
    plan = stages.detect_and_plan(sample, tmp_path / "work", cfg)
    assert plan.scene_cuts == [25]
    assert 25 in [s.start for s in plan.segments]
    if kind == "template":
        assert plan.frames_with_regions == FRAMES  # the logo is found on every frame
