"""A segment's regions, found on its own frames: the detect stage no longer decodes the video.

The detector runs on the segment's frames (every `sample_every`-th by its index in the whole video, or every frame
with `dense`) plus context frames either side of the segment, so that tracks, interpolation and hold reach across
its boundaries as they would over the whole video: with samples as far as the timeline interpolates (2 samples
plus 2 holds) on each side, every frame of the segment gets the boxes a single pass over the video would give it.
Fixed regions need no pixels at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import av
import numpy as np

from .config import JobConfig
from .decode import DecoderUsed, iter_frames
from .detect import Box, Detector, DetectorConfig, make_detector
from .detect.timeline import GrowingTimeline
from .hwdecode import HWAccel
from .objectstore import Media
from .plan import Segment, SegmentPlan

ProgressFn = Callable[[int, int], None]
# A heartbeat while the detector works, before the segment's first frame is encoded (Redis progress, stalls).
HEARTBEAT_FRAMES = 25
# Decoded frames held for their boxes at most (before the detector is run on a batch that is not full): a bound
# on memory, 64 frames of 4K are 800 MB.
MAX_HELD = 64


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


class SegmentRegions:
    """The regions of one segment's frames, found while they are decoded for the encoder: one decoding pass.

    `frames(stop)` yields the frames of [start, stop) in order (the frames past the segment's end are the encoder's
    lookahead), each as soon as its boxes are final: when every sample up to it plus the timeline's reach has been
    detected. So the first frame reaches the encoder after a few samples, not after the whole segment's detection;
    `boxes_at(i)` answers for every frame yielded so far. The frames decoded before `start` (context) feed only
    the detector. Fixed regions need no pixels: their timeline is whole from the start.
    """

    def __init__(
        self,
        input_path: Media,
        plan: SegmentPlan,
        seg: Segment,
        cfg: JobConfig,
        hwaccel: HWAccel | None = None,
        on_progress: ProgressFn | None = None,
    ) -> None:
        info = plan.probe
        self.input_path, self.info, self.seg, self.cfg = input_path, info, seg, cfg
        self.hwaccel, self.on_progress = hwaccel, on_progress
        self.step = sample_step(cfg)
        reach = context_frames(cfg)
        self.lo, self.hi = max(0, seg.start - reach), min(info.frames, seg.end + reach)
        self.timeline = GrowingTimeline(info.frames, info.width, info.height, cfg.detector, self.step)
        self.detector = shared_detector(cfg.detector)  # its tracker reset: this segment's frames are a run of their own
        self.pixels = cfg.detector.kind != "static"
        if not self.pixels:
            # The same boxes on every frame: the frame size is all the detector reads.
            blank = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (info.height, info.width, 3))
            boxes = self.detector.detect([blank])[0]
            for i in range(-(-self.lo // self.step) * self.step, self.hi, self.step):
                self.timeline.add(i, boxes)

    def boxes_at(self, index: int) -> list[Box]:
        return self.timeline.boxes_at(index)

    def _final(self, index: int, known: int) -> bool:
        """Frame `index` has its boxes for good once every sample up to `known` is in the timeline."""
        return index >= self.seg.end or min(index + self.timeline.reach, self.hi - 1) <= known

    def _detect(self, pending: list[tuple[int, np.ndarray]]) -> None:
        for (idx, _), boxes in zip(pending, self.detector.detect([f for _, f in pending]), strict=True):
            self.timeline.add(idx, boxes)
        pending.clear()

    def frames(
        self, stop: int, threads: int = 0, used: DecoderUsed | None = None
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        seg, info = self.seg, self.info
        if not self.pixels:  # the timeline is whole already
            yield from iter_frames(self.input_path, info, seg.start, stop, threads, self.hwaccel, used)
            return
        held: deque[tuple[int, av.VideoFrame]] = deque()  # decoded, waiting for their boxes
        pending: list[tuple[int, np.ndarray]] = []  # sampled, waiting for the detector
        decoded = iter_frames(self.input_path, info, self.lo, max(self.hi, stop), threads, self.hwaccel, used)
        waiting = True  # no frame given to the encoder yet
        for n, (idx, frame) in enumerate(decoded):
            if idx < self.hi and idx % self.step == 0:
                pending.append((idx, frame.to_ndarray(format="bgr24")))
            if seg.start <= idx < stop:
                held.append((idx, frame))
            # A full batch, or enough frames held (a bound on memory): the detector runs.
            if len(pending) >= self.cfg.detector.batch or (pending and len(held) >= MAX_HELD):
                self._detect(pending)
            known = pending[0][0] - 1 if pending else idx
            while held and self._final(held[0][0], known):
                waiting = False
                yield held.popleft()
            if waiting and self.on_progress is not None and n % HEARTBEAT_FRAMES == 0:
                self.on_progress(0, seg.frames)  # a heartbeat while the first samples are detected
        if pending:
            self._detect(pending)
        yield from held
