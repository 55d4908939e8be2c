"""SegmentPlan: the contract between detect and the segment workers (plan.json in the work directory)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError
from pydantic.main import IncEx

from .atomic import write_text_atomic
from .config import JobConfig, SegmentationConfig
from .errors import BadInputError
from .frameindex import SIDECAR, FrameIndex
from .probe import ProbeInfo

# 2: the per-frame timestamps and keyframes left plan.json for frames.npz; detection moved into the segments.
PLAN_VERSION = 2

# Left out of the digest that resume trusts: how long planning took, and knobs of speed alone (encoder threads, a
# share of the cores, change bits but not what a segment shows; the detection batch bounds memory), so that a job
# resumed with another number of workers does not redo every segment.
_CONFIG_NOT_DIGESTED: IncEx = {"encode": {"threads"}, "detector": {"batch"}, "segmentation": {"mode"}}
NOT_DIGESTED: IncEx = {"detect_seconds": True, "config": _CONFIG_NOT_DIGESTED}


class Segment(BaseModel):
    index: int
    start: int  # first frame
    end: int  # exclusive

    @property
    def frames(self) -> int:
        return self.end - self.start


class SegmentPlan(BaseModel):
    version: int = PLAN_VERSION
    input: str
    input_size: int
    probe: ProbeInfo
    config: JobConfig
    segments: list[Segment]
    frames_with_regions: int = 0
    scene_cuts: list[int] = Field(default_factory=list)
    detect_seconds: float = 0.0
    # The encoder of every segment, pinned when planning (encoderpin.planned_encoder); None: the first segment
    # pins it in encoder.json. Segments never choose on their own: one job, one encoder, one set of headers.
    encoder: str | None = None

    def write(self, workdir: Path) -> Path:
        """frames.npz first, then plan.json: a plan under its name always has its frame index beside it."""
        self.probe.index.save(workdir / SIDECAR)
        path = workdir / "plan.json"
        write_text_atomic(path, self.model_dump_json())
        return path

    def digest(self, workdir: Path) -> str:
        """sha256 of everything a segment's pixels depend on: this plan (input, probe with the digest of its frame
        index, job config, boundaries). A segment result records it; resume and finalize trust the result only
        while it is unchanged. Detection runs in the segments, from the input and this config alone."""
        h = hashlib.sha256()
        h.update(json.dumps(self.model_dump(mode="json", exclude=NOT_DIGESTED), sort_keys=True).encode())
        return h.hexdigest()

    @classmethod
    def read(cls, workdir: Path) -> SegmentPlan:
        path = workdir / "plan.json"
        if not path.is_file():
            raise BadInputError(f"{path} does not exist: run the detect stage (detect_and_plan) first")
        try:
            plan = cls.model_validate_json(path.read_text())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise BadInputError(
                f"{path} is not a segment plan this videojob can read ({where}: {first['msg']})"
            ) from exc
        if plan.version != PLAN_VERSION:
            raise BadInputError(
                f"{path} is plan version {plan.version}; this videojob reads version {PLAN_VERSION}: plan again"
            )
        plan.probe.attach(FrameIndex.load(workdir / SIDECAR, plan.probe.frame_index, plan.probe.frames))
        return plan


def segment_count(frames: int, fps: float, cfg: SegmentationConfig) -> int:
    if cfg.segments is not None:
        n = cfg.segments
    else:
        n = round(frames / max(1.0, fps * cfg.target_seconds_per_segment)) or 1
        n = max(cfg.min_segments, min(cfg.max_segments, n))
    # Never below min_frames_per_segment, except that a short video still gets one segment.
    return max(1, min(n, frames // cfg.min_frames_per_segment or 1))


def split_by_cost(costs: list[float] | np.ndarray, n: int, min_frames: int, cuts: list[int], window: int) -> list[int]:
    """Boundaries (exclusive ends) splitting frames into n parts of about equal cost, snapped to nearby cuts.
    Binary searches over the prefix sums and the sorted cuts: O(frames + n log frames)."""
    total = len(costs)
    prefix = np.concatenate(([0.0], np.cumsum(np.asarray(costs, np.float64))))
    ordered = np.unique(np.asarray(cuts, np.int64))
    bounds: list[int] = []
    prev = 0
    for k in range(1, n):
        target = prefix[-1] * k / n
        # first frame boundary whose prefix cost reaches the target
        lo, hi = prev + min_frames, total - (n - k) * min_frames
        first = max(lo, 1)
        b = first + int(np.searchsorted(prefix[first : hi + 1], target)) if first <= hi else hi
        b = min(b, hi)
        left = int(np.searchsorted(ordered, max(b - window, lo), side="left"))
        right = int(np.searchsorted(ordered, min(b + window, hi), side="right"))
        near = ordered[left:right]
        if near.size:
            b = int(near[np.argmin(np.abs(near - b) * 2 + (near > b))])  # the nearest; the earlier on a tie
        b = max(lo, min(hi, b))
        bounds.append(b)
        prev = b
    bounds.append(total)
    return bounds


def make_segments(probe: ProbeInfo, cfg: SegmentationConfig, cuts: list[int]) -> list[Segment]:
    n = segment_count(probe.frames, probe.fps, cfg)
    # Every frame costs alike: what a segment's detector finds is not known before the segment runs.
    costs = np.ones(probe.frames)
    ends = split_by_cost(costs, n, min(cfg.min_frames_per_segment, probe.frames // n), cuts, cfg.scene_snap_window)
    segments, start = [], 0
    for i, end in enumerate(ends):
        segments.append(Segment(index=i, start=start, end=end))
        start = end
    return segments
