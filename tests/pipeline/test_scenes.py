"""Scene cuts are found from the packets alone (keyframes, intra-sized packets; nothing decoded), whatever the
detector, and segment boundaries snap to them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from support.cases import blur_config
from videojob.pipeline import stages
from videojob.pipeline.detect import DetectorConfig
from videojob.pipeline.probe import probe
from videojob.pipeline.sample import LOGO_REGION, make_sample
from videojob.pipeline.scenes import packet_cuts

FRAMES = 50  # 2 s at 25 fps; the sample cuts to a second random-block background at frame 25


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Full demo size: fine 8 px blocks that a very small thumbnail averages into flat grey
    return make_sample(tmp_path_factory.mktemp("scenes") / "s.mp4", width=640, height=360, seconds=2.0, fps=25)


def coded_cut(path: Path) -> int:
    """The frame the source's encoder coded intra for the sample's cut at frame 25: x264 (veryfast) does not flag
    this cut, and codes the first P-frame after it intra, the B-frames before it predicted from it."""
    sizes = probe(path).index.sizes
    assert sizes is not None
    cut = int(np.argmax(sizes[1:])) + 1
    assert 25 <= cut <= 27  # at most a B-run after the content's cut
    return cut


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
    if kind == "template":  # detection runs in the segments; planning is the same
        cfg.detector = DetectorConfig(kind="template", template=str(logo_template(sample, tmp_path / "logo.png")))
    cfg.segmentation.scene_snap_window = 10
    cfg.segmentation.min_frames_per_segment = 10
    # balanced by cost alone the boundary would be near frame 25 anyway; ask for 3 so that the cut must pull one
    cfg.segmentation.segments = 3
    plan = stages.detect_and_plan(sample, tmp_path / "work", cfg)
    cut = coded_cut(sample)
    assert plan.scene_cuts == [cut]
    assert cut in [s.start for s in plan.segments]
    if kind == "template":
        # The segments find the logo on every frame, the frames either side of the cut included.
        results = [stages.process_segment(sample, tmp_path / "work", s.index) for s in plan.segments]
        assert sum(r.frames_with_regions for r in results) == FRAMES


def two_scene_clip(path: Path, x264_params: str) -> Path:
    """40 frames, a hard cut at frame 20 between two random-block scenes, encoded with the given x264 params."""
    rng = np.random.default_rng(3)
    scenes = [np.kron(rng.integers(0, 255, (18, 32, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8)) for _ in "ab"]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "x264-params": x264_params})
        v.width, v.height, v.pix_fmt = 256, 144, "yuv420p"
        for i in range(40):
            img = np.roll(scenes[i >= 20], i, axis=1)  # slow pan: the frames within a scene predict well
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


@pytest.mark.parametrize(
    "params",
    [
        "keyint=250:min-keyint=5",  # the encoder makes the cut an IDR keyframe
        "keyint=250:min-keyint=250",  # too soon for a keyframe: an intra frame that is not flagged as one
    ],
)
def test_a_cut_is_found_from_packets_whatever_the_encoder_made_of_it(tmp_path: Path, params: str) -> None:
    clip = two_scene_clip(tmp_path / "cut.mp4", params)
    cfg = blur_config(2)
    cfg.segmentation.scene_snap_window = 8
    plan = stages.detect_and_plan(clip, tmp_path / "work", cfg)
    assert plan.scene_cuts == [20]
    assert plan.segments[1].start == 20


def test_packet_cuts_are_keyframes_and_intra_sized_packets_after_small_ones() -> None:
    sizes = np.array([9000, 300, 200, 900, 250, 280, 8000, 200, 900, 300, 250, 9500])
    assert packet_cuts(sizes, np.array([0])) == [6, 11]
    # a keyframe is always a cut; a P-frame three times its B-frames is not
    assert packet_cuts(sizes, np.array([0, 8])) == [6, 8, 11]
    # a big packet after big ones is no cut (an all-intra stretch)
    assert packet_cuts(np.array([9000, 8000, 8500, 9000, 8800]), np.array([0])) == []
