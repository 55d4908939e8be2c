"""A segment's regions, found on its own frames: the detect stage no longer decodes the video.

The detector runs on the segment's frames (every `sample_every`-th by its index in the whole video, or every frame
with `dense`) plus context frames either side of the segment, so that tracks, interpolation and hold reach across
its boundaries as they would over the whole video: with samples as far as the timeline interpolates (2 samples
plus 2 holds) on each side, every frame of the segment gets the boxes a single pass over the video would give it.
Fixed regions need no pixels at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import av
import numpy as np

from .config import JobConfig
from .decode import iter_frames
from .detect import Box, Detector, DetectorConfig, RegionTimeline, build_timeline, make_detector
from .detect.sampling import detect_frames
from .hwdecode import HWAccel
from .objectstore import Media
from .plan import Segment, SegmentPlan

ProgressFn = Callable[[int, int], None]
# A heartbeat while the detector works, before the segment's first frame is encoded (Redis progress, stalls).
HEARTBEAT_FRAMES = 25


_loaded: dict[str, Detector] = {}


def shared_detector(cfg: DetectorConfig) -> Detector:
    """The detector for `cfg`, loaded once per process (the local runner plans and runs segments in one process:
    YOLO weights load once), with its tracking state cleared."""
    key = cfg.model_dump_json(exclude={"batch"})
    if key not in _loaded:
        _loaded.clear()  # one job's detector at a time
        _loaded[key] = make_detector(cfg)
    detector = _loaded[key]
    detector.reset()
    return detector


def sample_step(cfg: JobConfig) -> int:
    return 1 if cfg.detector.dense else cfg.detector.sample_every


def context_frames(cfg: JobConfig) -> int:
    """Frames decoded and detected on either side of a segment: the configured context, and for sampled detection
    at least as far as the timeline interpolates between two observations (its max_gap)."""
    dcfg = cfg.detector
    if dcfg.dense:
        return dcfg.context_frames
    step = sample_step(cfg)
    return max(dcfg.context_frames, 2 * step + 2 * dcfg.hold_frames)


def segment_timeline(
    input_path: Media,
    plan: SegmentPlan,
    seg: Segment,
    cfg: JobConfig,
    hwaccel: HWAccel | None = None,
    on_progress: ProgressFn | None = None,
) -> RegionTimeline:
    info = plan.probe
    step, reach = sample_step(cfg), context_frames(cfg)
    lo, hi = max(0, seg.start - reach), min(info.frames, seg.end + reach)
    if cfg.detector.kind == "static":
        # The same boxes on every frame: the frame size is all the detector reads.
        blank = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (info.height, info.width, 3))
        boxes = shared_detector(cfg.detector).detect([blank])[0]
        samples: dict[int, list[Box]] = {i: boxes for i in range(-(-lo // step) * step, hi, step)}
    else:
        detector = shared_detector(cfg.detector)  # a fresh tracker: this segment's frames are a run of their own
        frames = iter_frames(input_path, info, lo, hi, threads=cfg.encode.threads, hwaccel=hwaccel)
        samples = detect_frames(detector, _sampled(frames, step, seg, on_progress), batch=cfg.detector.batch)
    return build_timeline(samples, info.frames, info.width, info.height, cfg.detector, sample_every=step)


def _sampled(
    frames: Iterator[tuple[int, av.VideoFrame]], step: int, seg: Segment, on_progress: ProgressFn | None
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR array) of the sampled frames; only those are converted from the decoder's layout."""
    for n, (idx, frame) in enumerate(frames):
        if on_progress is not None and n % HEARTBEAT_FRAMES == 0:
            on_progress(0, seg.frames)
        if idx % step == 0:
            yield idx, frame.to_ndarray(format="bgr24")
