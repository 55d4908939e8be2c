"""Every frame's timestamp and the keyframes, as arrays: the part of a probe that grows with the video.

plan.json stays small (under 1 MB for hours of video) because these live beside it in `frames.npz`, compressed
(timestamps as differences: a constant rate compresses to almost nothing). The plan records `digest()` of the
arrays, so a sidecar that does not belong to the plan is refused, and resume trusts a segment only while both
are unchanged. Lookups are binary searches over the sorted timestamps: no per-call map of every frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import BadInputError

SIDECAR = "frames.npz"


@dataclass(eq=False)
class FrameIndex:
    pts: np.ndarray  # int64, presentation timestamps in display order (frame index = position), strictly rising
    keyframes: np.ndarray  # int64, frame indexes of keyframes, rising
    # int64, each frame's packet size in display order: known after a probe, not kept in the sidecar (planning
    # alone uses it, to find where the source's encoder started a new scene)
    sizes: np.ndarray | None = field(default=None)

    @property
    def frames(self) -> int:
        return len(self.pts)

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.pts, "<i8").tobytes())
        h.update(b"|")
        h.update(np.ascontiguousarray(self.keyframes, "<i8").tobytes())
        return h.hexdigest()

    def index_of(self, pts: int) -> int | None:
        """The frame index of a presentation timestamp, None when no frame has it."""
        pos = int(np.searchsorted(self.pts, pts))
        return pos if pos < len(self.pts) and int(self.pts[pos]) == pts else None

    def keyframe_at_or_before(self, index: int) -> int:
        pos = int(np.searchsorted(self.keyframes, index, side="right")) - 1
        return int(self.keyframes[max(pos, 0)])

    def save(self, path: Path) -> Path:
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            deltas = np.diff(self.pts, prepend=np.int64(0)).astype("<i8")
            np.savez_compressed(f, pts_deltas=deltas, keyframes=self.keyframes.astype("<i8"))
        return path

    @classmethod
    def load(cls, path: Path, digest: str, frames: int) -> FrameIndex:
        """The sidecar at `path`, checked against what the plan recorded (its digest and frame count)."""
        if not path.is_file():
            raise BadInputError(f"{path} does not exist: the plan beside it is incomplete; plan the job again")
        try:
            with np.load(path, allow_pickle=False) as data:
                index = cls(pts=np.cumsum(data["pts_deltas"]).astype(np.int64), keyframes=data["keyframes"])
        except (OSError, ValueError, KeyError) as exc:
            raise BadInputError(f"{path} is not a frame index this videojob can read ({exc}); plan again") from exc
        if index.frames != frames or index.digest() != digest:
            raise BadInputError(f"{path} does not belong to the plan beside it; plan the job again")
        return index
