"""The IoU tracker on hand-made detections: stable ids, bridged misses, weak boxes, crossing objects."""

from __future__ import annotations

from videojob.pipeline.detect import Box, DetectorConfig, NormRegion, build_timeline
from videojob.pipeline.detect.tracking import IouTracker, iou_matrix


def box(x0: int, y0: int, w: int = 40, h: int = 40, score: float = 0.9) -> Box:
    return Box(x0=x0, y0=y0, x1=x0 + w, y1=y0 + h, score=score)


def tracker(**kw: float) -> IouTracker:
    return IouTracker(**({"high": 0.5, "low": 0.2, "max_age": 3} | kw))  # type: ignore[arg-type]


def test_iou_matrix_against_hand_computed_values() -> None:
    import numpy as np

    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    # overlap 5x10 = 50, union 100 + 100 - 50 = 150
    assert np.allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])


def test_moving_object_keeps_its_id_through_a_missed_frame() -> None:
    t = tracker()
    seen = [t.update([box(10 * i, 0)]) if i != 3 else t.update([]) for i in range(7)]
    assert seen[3] == []
    ids = {b.track_id for per in seen for b in per}
    assert ids == {1}


def test_track_expires_after_max_age_and_a_new_id_follows() -> None:
    t = tracker(max_age=2)
    assert t.update([box(0, 0)])[0].track_id == 1
    for _ in range(3):
        t.update([])
    assert t.update([box(0, 0)])[0].track_id == 2


def test_weak_box_continues_a_track_but_never_starts_one() -> None:
    t = tracker()
    assert t.update([box(300, 300, score=0.3)]) == []  # weak and alone: no track
    (first,) = t.update([box(0, 0)])
    (weak,) = t.update([box(2, 0, score=0.3)])  # occluded: the detector is unsure, the track goes on
    assert weak.track_id == first.track_id and weak.score == 0.3
    assert t.update([box(400, 0, score=0.3)]) == []
    assert t.update([box(400, 0, score=0.1)]) == []  # below `low`: ignored even where a track could be


def test_two_objects_crossing_keep_their_ids() -> None:
    # A moves right, B moves left, 12 px per frame; their boxes overlap in the middle frames.
    t = tracker()
    a_ids, b_ids = set(), set()
    for i in range(10):
        a, b = box(12 * i, 0), box(108 - 12 * i, 0)
        out = {bx.x0: bx.track_id for bx in t.update([b, a])}
        a_ids.add(out[a.x0])
        b_ids.add(out[b.x0])
    assert len(a_ids) == 1 and len(b_ids) == 1 and a_ids != b_ids


def test_reset_forgets_tracks() -> None:
    t = tracker()
    t.update([box(0, 0), box(100, 100)])
    t.reset()
    assert [b.track_id for b in t.update([box(0, 0)])] == [1]


def test_tracked_detections_cover_a_missed_frame_on_the_timeline() -> None:
    # Dense detection (every frame), no hold: only interpolation along the track id can cover frame 3.
    cfg = DetectorConfig(kind="static", regions=[NormRegion(x=0, y=0, w=0.1, h=0.1)], hold_frames=0, padding=0.0)
    t = tracker()
    samples = {i: t.update([] if i == 3 else [box(10 * i, 0)]) for i in range(7)}
    timeline = build_timeline(samples, 7, 320, 240, cfg, sample_every=1)
    (bridged,) = timeline.boxes_at(3)
    assert (bridged.x0, bridged.x1) == (30, 70)  # halfway between 20 and 40
    assert timeline.frames_with_regions() == 7
