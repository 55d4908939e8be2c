"""Regions over time: interpolation between samples, hold around sightings, padding, clipping, tracks.

Expected coordinates are worked out by hand in the comments (or by a plain reference loop), not read back from the
code under test."""

from __future__ import annotations

import math

from videojob.pipeline.detect import Box, DetectorConfig, NormRegion, RegionTimeline, build_timeline
from videojob.pipeline.detect.timeline import assign_tracks

CFG = DetectorConfig(
    kind="static", regions=[NormRegion(x=0, y=0, w=0.1, h=0.1)], sample_every=10, hold_frames=3, padding=0.0
)


def box(x0: int, y0: int, x1: int, y1: int, tid: int | None = None, score: float = 1.0) -> Box:
    return Box(x0=x0, y0=y0, x1=x1, y1=y1, track_id=tid, score=score)


def coords(b: Box) -> tuple[int, int, int, int]:
    return (b.x0, b.y0, b.x1, b.y1)


def test_linear_interpolation_between_samples() -> None:
    t = build_timeline({0: [box(0, 0, 40, 40)], 10: [box(20, 40, 60, 80)]}, 100, 640, 360, CFG)
    # frame 5 is halfway: (0+20)/2, (0+40)/2, (40+60)/2, (40+80)/2
    assert [coords(b) for b in t.boxes_at(5)] == [(10, 20, 50, 60)]
    # frame 2: x0 = 20*0.2 = 4, y0 = 40*0.2 = 8, x1 = 40+20*0.2 = 44, y1 = 40+40*0.2 = 48
    assert [coords(b) for b in t.boxes_at(2)] == [(4, 8, 44, 48)]


def test_fractional_positions_round_outwards() -> None:
    t = build_timeline({0: [box(0, 0, 10, 10)], 3: [box(10, 5, 20, 15)]}, 10, 640, 360, CFG, sample_every=3)
    # frame 1 is a third of the way: x0 3.33 -> 3, y0 1.67 -> 1, x1 13.33 -> 14, y1 11.67 -> 12
    assert [coords(b) for b in t.boxes_at(1)] == [(3, 1, 14, 12)]
    # frame 2: x0 6.67 -> 6, y0 3.33 -> 3, x1 16.67 -> 17, y1 13.33 -> 14
    assert [coords(b) for b in t.boxes_at(2)] == [(6, 3, 17, 14)]


def test_hold_before_first_and_after_last_sighting() -> None:
    t = build_timeline({20: [box(0, 0, 10, 10)]}, 100, 640, 360, CFG)
    hold = 9  # max(hold_frames=3, sample_every-1=9): covered at least up to where the next sample would be
    assert t.boxes_at(20 + hold) and not t.boxes_at(20 + hold + 1)
    assert t.boxes_at(20 - hold) and not t.boxes_at(20 - hold - 1)
    assert t.frames_with_regions() == 2 * hold + 1


def test_hold_frames_longer_than_the_sampling_step() -> None:
    cfg = CFG.model_copy(update={"hold_frames": 25})
    t = build_timeline({50: [box(0, 0, 10, 10)]}, 200, 640, 360, cfg)
    covered = [i for i in range(200) if t.boxes_at(i)]
    assert covered == list(range(25, 76))


def test_one_missed_sample_is_bridged() -> None:
    # seen at 0 and 20, missed at 10: interpolated straight through, x0 moves 0 -> 10 over 20 frames
    t = build_timeline({0: [box(0, 0, 10, 10)], 10: [], 20: [box(10, 0, 20, 10)]}, 30, 640, 360, CFG)
    assert all(t.boxes_at(i) for i in range(0, 21))
    assert [coords(b) for b in t.boxes_at(10)] == [(5, 0, 15, 10)]


def test_long_gap_is_held_not_interpolated() -> None:
    # max gap for interpolation = 2*10 + 2*3 = 26 frames; these sightings are 60 apart
    t = build_timeline({0: [box(0, 0, 10, 10, tid=1)], 60: [box(100, 0, 110, 10, tid=1)]}, 70, 640, 360, CFG)
    assert [coords(b) for b in t.boxes_at(9)] == [(0, 0, 10, 10)]
    assert t.boxes_at(30) == []
    assert [coords(b) for b in t.boxes_at(51)] == [(100, 0, 110, 10)]


def test_padding_and_clipping() -> None:
    cfg = CFG.model_copy(update={"padding": 0.5})
    t = build_timeline({0: [box(0, 0, 20, 10)], 20: [box(625, 350, 635, 358)]}, 21, 640, 360, cfg, sample_every=1)
    # 20x10 grows by 10 and 5 on every side, clipped at zero
    assert [coords(b) for b in t.boxes_at(0)] == [(0, 0, 30, 15)]
    # 10x8 grows by 5 and 4: (620, 346, 640, 362) clipped at 640x360
    assert [coords(b) for b in t.boxes_at(20)] == [(620, 346, 640, 360)]


def test_padding_rounds_up() -> None:
    cfg = CFG.model_copy(update={"padding": 0.1})
    t = build_timeline({0: [box(100, 100, 145, 133)]}, 1, 640, 360, cfg)
    # 45 * 0.1 = 4.5 -> 5, 33 * 0.1 = 3.3 -> 4
    assert [coords(b) for b in t.boxes_at(0)] == [(95, 96, 150, 137)]


def test_box_entirely_outside_the_frame_is_dropped() -> None:
    t = build_timeline({0: [box(700, 10, 720, 30)]}, 1, 640, 360, CFG)
    assert t.boxes_at(0) == [] and t.frames_with_regions() == 0


def test_tracks_follow_overlap_and_new_objects_get_new_ids() -> None:
    tracks = assign_tracks({0: [box(0, 0, 10, 10)], 5: [box(2, 0, 12, 10), box(100, 100, 110, 110)]})
    a, b = tracks[5]
    assert a.track_id == tracks[0][0].track_id
    assert b.track_id != a.track_id


def test_assigned_ids_never_collide_with_detector_ids() -> None:
    tracks = assign_tracks({0: [box(0, 0, 10, 10, tid=7)], 5: [box(300, 300, 310, 310)]})
    assert tracks[5][0].track_id not in (None, 7)


def test_two_objects_interpolate_independently() -> None:
    samples = {0: [box(0, 0, 10, 10, 1), box(100, 0, 110, 10, 2)], 10: [box(10, 0, 20, 10, 1), box(90, 0, 100, 10, 2)]}
    t = build_timeline(samples, 20, 640, 360, CFG)
    left, right = t.boxes_at(5)
    assert (left.x0, right.x0) == (5, 95)


def reference(samples: dict[int, list[Box]], index: int, hold: int, gap: int) -> list[tuple[int, int, int, int]]:
    """Plain loop over each id's sightings: the nearest pair around `index`, else the nearest within `hold`."""
    out = []
    for tid in sorted({b.track_id for boxes in samples.values() for b in boxes}):
        seen = sorted((f, b) for f, boxes in samples.items() for b in boxes if b.track_id == tid)
        exact = [b for f, b in seen if f == index]
        before = [(f, b) for f, b in seen if f < index][-1:]
        after = [(f, b) for f, b in seen if f > index][:1]
        if exact:
            b = exact[0]
            out.append((b.x0, b.y0, b.x1, b.y1))
        elif before and after and after[0][0] - before[0][0] <= gap:
            (f0, a), (f1, c) = before[0], after[0]
            t = (index - f0) / (f1 - f0)
            out.append(
                (
                    math.floor(a.x0 + (c.x0 - a.x0) * t + 1e-6),
                    math.floor(a.y0 + (c.y0 - a.y0) * t + 1e-6),
                    math.ceil(a.x1 + (c.x1 - a.x1) * t - 1e-6),
                    math.ceil(a.y1 + (c.y1 - a.y1) * t - 1e-6),
                )
            )
        else:
            near = [(abs(f - index), f, b) for f, b in before + after if abs(f - index) <= hold]
            if near:
                b = min(near, key=lambda n: (n[0], n[1]))[2]
                out.append((b.x0, b.y0, b.x1, b.y1))
    return out


def test_matches_a_plain_reference_over_many_frames_and_block_edges() -> None:
    # Three ids with gaps of different lengths, spanning several 64-frame index blocks.
    samples: dict[int, list[Box]] = {}
    for f in range(0, 400, 10):
        boxes = [box(f, 10, f + 30, 50, tid=1)] if f < 150 or f > 230 else []
        if f % 40:
            boxes.append(box(300 - f // 2, 100, 340 - f // 2, 160, tid=2, score=0.6))
        if 120 <= f <= 180:
            boxes.append(box(500, f, 540, f + 20, tid=3))
        samples[f] = boxes
    t = build_timeline(samples, 420, 640, 480, CFG)
    for i in range(420):
        assert [coords(b) for b in t.boxes_at(i)] == reference(samples, i, hold=9, gap=26), f"frame {i}"


def test_json_round_trip_and_region_count() -> None:
    t = build_timeline({0: [box(0, 0, 10, 10)], 10: [box(20, 40, 30, 50)]}, 100, 640, 360, CFG)
    again = RegionTimeline.from_json(t.to_json())
    assert all(t.boxes_at(i) == again.boxes_at(i) for i in range(100))
    assert t.frames_with_regions() == 10 + 1 + 9  # 0..10 interpolated, then held for 9 (up to the next sample)
