"""Regions over time: sampled detections become a box list for every frame.

Detection for planning runs on every k-th frame and detectors miss objects now and then, so a region must not
blink off between samples. Observations are grouped into tracks (by the detector's track id, or by overlap with
the previous sample), interpolated linearly between observations that are close enough, and held for a while
before the first and after the last sighting. Boxes are padded and clipped last.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping

from pydantic import BaseModel

from .config import DetectorConfig
from .regions import Box, iou

MATCH_IOU = 0.3


class _Params(BaseModel):
    n_frames: int
    width: int
    height: int
    hold: int
    max_gap: int
    padding: float


def _match_score(box: Box, last: Box) -> float:
    """Higher is a better match; 0 means no match. Overlap first, then nearby centres (objects move between samples)."""
    overlap = iou(box, last)
    if overlap >= MATCH_IOU:
        return 1.0 + overlap
    reach = 2.0 * max(last.width, last.height, 1)
    dx = (box.x0 + box.x1 - last.x0 - last.x1) / 2
    dy = (box.y0 + box.y1 - last.y0 - last.y1) / 2
    distance = (dx * dx + dy * dy) ** 0.5
    return max(0.0, 1.0 - distance / reach) if distance < reach else 0.0


# Ids handed to boxes the detector gave none start here, far above any tracker's, so the two never meet when
# samples arrive one frame at a time (a batch run starts them above the largest id it was given, as before).
UNTRACKED_BASE = 1 << 40


class TrackAssigner:
    """Gives every box a track id, one sample frame at a time in increasing frame order: the detector's id is
    kept, else the box is matched greedily to the tracks seen within max_gap frames. Online, so a segment can
    feed it samples as its detector produces them; the result is the same as for all samples at once."""

    def __init__(self, max_gap: int | None = None, next_id: int = UNTRACKED_BASE) -> None:
        self.max_gap = max_gap
        self.next_id = next_id
        self.active: dict[int, tuple[int, Box]] = {}  # track id -> (last frame, last box)

    def add(self, frame: int, boxes: list[Box]) -> list[Box]:
        if self.max_gap is not None:
            self.active = {t: (f, b) for t, (f, b) in self.active.items() if frame - f <= self.max_gap}
        current: list[Box] = []
        taken: set[int] = set()
        for box in sorted(boxes, key=lambda b: -b.score):
            if box.track_id is None:
                scored = [(_match_score(box, last), tid) for tid, (_, last) in self.active.items() if tid not in taken]
                best_score, best_id = max(scored, default=(0.0, -1))
                if best_score > 0:
                    box = box.model_copy(update={"track_id": best_id})
                else:
                    box = box.model_copy(update={"track_id": self.next_id})
                    self.next_id += 1
            assert box.track_id is not None
            taken.add(box.track_id)
            self.active[box.track_id] = (frame, box)
            current.append(box)
        return current


def assign_tracks(samples: Mapping[int, list[Box]], max_gap: int | None = None) -> dict[int, list[Box]]:
    """Give every box a track id: keep the detector's, else match greedily to tracks seen within max_gap frames."""
    next_id = 1 + max((b.track_id for boxes in samples.values() for b in boxes if b.track_id is not None), default=0)
    assigner = TrackAssigner(max_gap, next_id)
    return {frame: assigner.add(frame, samples[frame]) for frame in sorted(samples)}


# Tracks are indexed by blocks of frames so that boxes_at looks only at the tracks alive near a frame.
BLOCK = 64
# Float slack when rounding interpolated coordinates outwards (0.1 * 30 must not become 4).
EPS = 1e-6


def _lerp_outwards(a: Box, b: Box, t: float) -> tuple[int, int, int, int]:
    """Linear interpolation rounded outwards (floor the near edges, ceil the far ones): never a pixel short."""
    return (
        math.floor(a.x0 + (b.x0 - a.x0) * t + EPS),
        math.floor(a.y0 + (b.y0 - a.y0) * t + EPS),
        math.ceil(a.x1 + (b.x1 - a.x1) * t - EPS),
        math.ceil(a.y1 + (b.y1 - a.y1) * t - EPS),
    )


class RegionTimeline:
    def __init__(self, tracks: dict[int, list[tuple[int, Box]]], params: _Params) -> None:
        self.tracks = {tid: sorted(obs, key=lambda o: o[0]) for tid, obs in tracks.items() if obs}
        self.params = params
        self._frames = {tid: [f for f, _ in obs] for tid, obs in self.tracks.items()}
        self._blocks: dict[int, list[int]] = {}
        for tid in sorted(self.tracks):
            frames = self._frames[tid]
            first, last = frames[0] - params.hold, frames[-1] + params.hold
            for block in range(max(0, first) // BLOCK, max(0, last) // BLOCK + 1):
                self._blocks.setdefault(block, []).append(tid)

    def add(self, frame: int, boxes: list[Box]) -> None:
        """Observations at `frame`, later than any before (boxes with track ids): the timeline grows as a segment's
        detector works. boxes_at(i) is final once every sample up to i + max_gap is in."""
        for box in boxes:
            tid = box.track_id
            assert tid is not None
            frames = self._frames.setdefault(tid, [])
            covered = frames[-1] + self.params.hold if frames else None
            self.tracks.setdefault(tid, []).append((frame, box))
            frames.append(frame)
            first = max(0, frame - self.params.hold) // BLOCK if covered is None else max(0, covered) // BLOCK + 1
            for block in range(first, max(0, frame + self.params.hold) // BLOCK + 1):
                bisect.insort(self._blocks.setdefault(block, []), tid)  # boxes_at gives them in track id order

    @property
    def n_frames(self) -> int:
        return self.params.n_frames

    def _raw_at(self, tid: int, index: int) -> tuple[Box, tuple[int, int, int, int]] | None:
        """The observation that stands for this frame and the coordinates it has there."""
        frames = self._frames[tid]
        obs = self.tracks[tid]
        pos = bisect.bisect_left(frames, index)
        if pos < len(frames) and frames[pos] == index:
            box = obs[pos][1]
            return box, (box.x0, box.y0, box.x1, box.y1)
        before = obs[pos - 1] if pos > 0 else None
        after = obs[pos] if pos < len(frames) else None
        if before and after and after[0] - before[0] <= self.params.max_gap:
            t = (index - before[0]) / (after[0] - before[0])
            a, b = before[1], after[1]
            return (a if a.score <= b.score else b), _lerp_outwards(a, b, t)
        nearest = [o for o in (before, after) if o is not None and abs(o[0] - index) <= self.params.hold]
        if not nearest:
            return None
        box = min(nearest, key=lambda o: abs(o[0] - index))[1]
        return box, (box.x0, box.y0, box.x1, box.y1)

    def boxes_at(self, index: int) -> list[Box]:
        """Padded boxes clipped to the frame, one per track alive at this frame, in track id order."""
        out = []
        p = self.params
        # A copy (one step under the GIL): a segment's decoding thread (prefetch.py) may insert a later sample's
        # track into this block meanwhile, and iterating a list that grows in front would visit a track twice.
        for tid in tuple(self._blocks.get(index // BLOCK, ())):
            found = self._raw_at(tid, index)
            if found is None:
                continue
            box, (x0, y0, x1, y1) = found
            # Padding grows each side by a fraction of the box's size, rounded up (a margin is the point).
            dx = math.ceil((x1 - x0) * p.padding - EPS)
            dy = math.ceil((y1 - y0) * p.padding - EPS)
            x0, y0, x1, y1 = max(0, x0 - dx), max(0, y0 - dy), min(p.width, x1 + dx), min(p.height, y1 + dy)
            if x1 > x0 and y1 > y0:
                # Built without re-validation: the fields come from a validated Box and are plain ints here.
                out.append(
                    Box.model_construct(
                        x0=x0, y0=y0, x1=x1, y1=y1, score=box.score, label=box.label, track_id=box.track_id
                    )
                )
        return out

    def frames_with_regions(self, start: int = 0, end: int | None = None) -> int:
        stop = self.params.n_frames if end is None else end
        return sum(1 for i in range(start, stop) if self.boxes_at(i))

    def to_json(self) -> str:
        return json.dumps(
            {
                "params": self.params.model_dump(),
                "tracks": {str(tid): [[f, b.model_dump()] for f, b in obs] for tid, obs in sorted(self.tracks.items())},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> RegionTimeline:
        data = json.loads(text)
        tracks = {int(tid): [(int(f), Box(**b)) for f, b in obs] for tid, obs in data["tracks"].items()}
        return cls(tracks, _Params(**data["params"]))


def timeline_params(n_frames: int, width: int, height: int, cfg: DetectorConfig, step: int) -> _Params:
    # Between samples a region is always covered: hold at least up to the next sample.
    hold = max(cfg.hold_frames, step - 1)
    # A track seen again after one missed sample is still interpolated, not dropped and re-held.
    max_gap = 2 * step + 2 * cfg.hold_frames
    return _Params(n_frames=n_frames, width=width, height=height, hold=hold, max_gap=max_gap, padding=cfg.padding)


def build_timeline(
    samples: Mapping[int, list[Box]],
    n_frames: int,
    width: int,
    height: int,
    cfg: DetectorConfig,
    sample_every: int | None = None,
) -> RegionTimeline:
    """Turn detections at some frames into regions for every frame of [0, n_frames)."""
    step = cfg.sample_every if sample_every is None else sample_every
    params = timeline_params(n_frames, width, height, cfg, step)
    tracks: dict[int, list[tuple[int, Box]]] = {}
    for frame, boxes in assign_tracks(samples, params.max_gap).items():
        for box in boxes:
            assert box.track_id is not None
            tracks.setdefault(box.track_id, []).append((frame, box))
    return RegionTimeline(tracks, params)


class GrowingTimeline:
    """A RegionTimeline built one sample frame at a time, in increasing frame order, as a detector produces them:
    boxes_at(i) equals build_timeline's over the same samples once every sample up to i + `reach` is in."""

    def __init__(self, n_frames: int, width: int, height: int, cfg: DetectorConfig, step: int) -> None:
        params = timeline_params(n_frames, width, height, cfg, step)
        self.timeline = RegionTimeline({}, params)
        self.reach = params.max_gap
        self.assigner = TrackAssigner(params.max_gap)

    def add(self, frame: int, boxes: list[Box]) -> None:
        self.timeline.add(frame, self.assigner.add(frame, boxes))

    def boxes_at(self, index: int) -> list[Box]:
        return self.timeline.boxes_at(index)
