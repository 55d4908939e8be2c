"""Online multi-object tracking by box overlap, in the manner of ByteTrack, for detectors that return no ids.

Why not ultralytics' own trackers: they import `lap`, which ultralytics pip-installs at run time when it is
missing (there is no network in a worker pod). This is the part of ByteTrack that matters here:

* two-stage association: confident boxes are matched to tracks first, then weak boxes (below the detector's
  confidence, above `low`) may continue a track that the confident ones left unmatched, so a person who is briefly
  occluded or blurred keeps the same id instead of dropping out;
* a constant-velocity guess of where each track is now, so fast objects still overlap their track;
* lost tracks live on for `max_age` updates and are picked up again with the same id.

Unlike ByteTrack a new track is reported on its first sighting: for privacy a box seen once must still be
covered. Boxes that are never covered by a track are the weak ones nobody claimed; they are dropped.
Matching is an optimal assignment on 1 - IoU (ultralytics' linear_sum_assignment, SciPy when present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .regions import Box


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # x0, y0, x1, y1 as floats
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    missed: int = 0

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.missed + 1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4) in x0, y0, x1, y1."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match(tracks: np.ndarray, boxes: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Optimal one-to-one (track row, box row) pairs with IoU >= min_iou."""
    overlap = iou_matrix(tracks, boxes)
    if overlap.size == 0 or overlap.max() < min_iou:
        return []
    from ultralytics.utils.ops import linear_sum_assignment

    # Pairs under the threshold get a cost no real pair can reach, then are dropped after the assignment.
    cost = np.where(overlap >= min_iou, 1.0 - overlap, 2.0)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= min_iou]


class IouTracker:
    """Give boxes stable track ids across successive calls of `update` (one call per frame, in display order)."""

    def __init__(self, high: float, low: float, min_iou: float = 0.3, max_age: int = 30, smoothing: float = 0.5):
        self.high, self.low = high, low
        self.min_iou, self.max_age, self.smoothing = min_iou, max_age, smoothing
        self.tracks: list[_Track] = []
        self.next_id = 1

    def reset(self) -> None:
        self.tracks = []
        self.next_id = 1

    def _continue(self, track: _Track, box: np.ndarray) -> None:
        step = (box - track.box) / (track.missed + 1)
        track.velocity = self.smoothing * track.velocity + (1 - self.smoothing) * step
        track.box, track.missed = box, 0

    def update(self, boxes: list[Box]) -> list[Box]:
        """The boxes of one frame with track ids set; weak boxes that continue no track are left out."""
        coords = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], float).reshape(-1, 4)
        scores = np.array([b.score for b in boxes], float)
        strong = np.flatnonzero(scores >= self.high)
        weak = np.flatnonzero((scores >= self.low) & (scores < self.high))
        predicted = np.array([t.predicted() for t in self.tracks], float).reshape(-1, 4)
        ids: dict[int, int] = {}  # box row -> track id

        free = list(range(len(self.tracks)))
        for r, c in match(predicted[free], coords[strong], self.min_iou):
            track = self.tracks[free[r]]
            self._continue(track, coords[strong[c]])
            ids[int(strong[c])] = track.track_id
        taken = set(ids.values())
        free = [t for t in free if self.tracks[t].track_id not in taken]
        # Weak boxes may only continue a track (ByteTrack uses a stricter overlap for them), never start one.
        for r, c in match(predicted[free], coords[weak], max(self.min_iou, 0.5)):
            track = self.tracks[free[r]]
            self._continue(track, coords[weak[c]])
            ids[int(weak[c])] = track.track_id

        matched = set(ids.values())
        for track in self.tracks:
            if track.track_id not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        for row in strong:
            if int(row) not in ids:
                self.tracks.append(_Track(self.next_id, coords[row].copy()))
                ids[int(row)] = self.next_id
                self.next_id += 1
        return [boxes[row].model_copy(update={"track_id": tid}) for row, tid in sorted(ids.items())]
