"""Regions over time: interpolation between samples, hold around sightings, padding, clipping, tracks."""

from __future__ import annotations

from videojob.pipeline.detect import Box, DetectorConfig, NormRegion, RegionTimeline, build_timeline
from videojob.pipeline.detect.timeline import assign_tracks

CFG = DetectorConfig(
    kind="static", regions=[NormRegion(x=0, y=0, w=0.1, h=0.1)], sample_every=10, hold_frames=3, padding=0.0
)


def box(x0: int, y0: int, x1: int, y1: int, tid: int | None = None) -> Box:
    return Box(x0=x0, y0=y0, x1=x1, y1=y1, track_id=tid)


def test_linear_interpolation_between_samples() -> None:
    t = build_timeline({0: [box(0, 0, 40, 40)], 10: [box(20, 40, 60, 80)]}, 100, 640, 360, CFG)
    (b,) = t.boxes_at(5)
    assert (b.x0, b.y0, b.x1, b.y1) == (10, 20, 50, 60)
    (b,) = t.boxes_at(2)
    assert (b.x0, b.y0) == (4, 8)


def test_hold_before_first_and_after_last_sighting() -> None:
    t = build_timeline({20: [box(0, 0, 10, 10)]}, 100, 640, 360, CFG)
    hold = max(CFG.hold_frames, CFG.sample_every - 1)  # covered up to the next sample at least
    assert t.boxes_at(20 + hold) and not t.boxes_at(20 + hold + 1)
    assert t.boxes_at(20 - hold) and not t.boxes_at(20 - hold - 1)


def test_one_missed_sample_is_bridged() -> None:
    # seen at 0 and 20, missed at 10: still covered all the way through
    t = build_timeline({0: [box(0, 0, 10, 10)], 10: [], 20: [box(10, 0, 20, 10)]}, 30, 640, 360, CFG)
    assert all(t.boxes_at(i) for i in range(0, 21))


def test_padding_and_clipping() -> None:
    cfg = CFG.model_copy(update={"padding": 0.5})
    t = build_timeline({0: [box(0, 0, 20, 10)]}, 5, 640, 360, cfg)
    (b,) = t.boxes_at(0)
    assert (b.x0, b.y0, b.x1, b.y1) == (0, 0, 30, 15)  # grown by 10 and 5, clipped at zero


def test_tracks_follow_overlap_and_new_objects_get_new_ids() -> None:
    tracks = assign_tracks({0: [box(0, 0, 10, 10)], 5: [box(2, 0, 12, 10), box(100, 100, 110, 110)]})
    a, b = tracks[5]
    assert a.track_id == tracks[0][0].track_id
    assert b.track_id != a.track_id


def test_two_objects_interpolate_independently() -> None:
    samples = {0: [box(0, 0, 10, 10, 1), box(100, 0, 110, 10, 2)], 10: [box(10, 0, 20, 10, 1), box(90, 0, 100, 10, 2)]}
    t = build_timeline(samples, 20, 640, 360, CFG)
    left, right = t.boxes_at(5)
    assert (left.x0, right.x0) == (5, 95)


def test_json_round_trip_and_region_count() -> None:
    t = build_timeline({0: [box(0, 0, 10, 10)], 10: [box(20, 40, 30, 50)]}, 100, 640, 360, CFG)
    again = RegionTimeline.from_json(t.to_json())
    assert all(t.boxes_at(i) == again.boxes_at(i) for i in range(100))
    assert t.frames_with_regions() == 10 + 1 + 9  # 0..10 interpolated, then held for 9 (up to the next sample)
