"""Detect stage: probe, one decoding pass for sampled detection and scene scores, then the segment plan."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic
from .config import JobConfig
from .decode import iter_frames
from .detect import Box, build_timeline, make_detector
from .errors import BadInputError
from .plan import SegmentPlan, make_segments
from .probe import probe
from .scenes import THUMB, scene_cuts

ProgressFn = Callable[[int, int], None]


def detect_and_plan(
    input_path: Path | str, workdir: Path | str, config: JobConfig, on_progress: ProgressFn | None = None
) -> SegmentPlan:
    input_path, workdir = Path(input_path), Path(workdir)
    started = time.monotonic()
    info = probe(input_path)
    workdir.mkdir(parents=True, exist_ok=True)
    dcfg = config.detector
    detecting = dcfg.kind != "none" and config.operation.kind != "none"
    detector = make_detector(dcfg) if detecting else None
    samples: dict[int, list[Box]] = {}
    batch_idx: list[int] = []
    batch: list[np.ndarray] = []
    scores: list[float] = []
    prev: np.ndarray | None = None

    def flush() -> None:
        assert detector is not None
        for i, boxes in zip(batch_idx, detector.detect(batch), strict=True):
            samples[i] = boxes
        batch_idx.clear()
        batch.clear()

    count = 0
    for idx, frame in iter_frames(input_path, info, 0, info.frames):
        # Scene score on a tiny grey thumbnail scaled by FFmpeg: far cheaper than a full-size conversion.
        thumb = frame.to_ndarray(width=THUMB[0], height=THUMB[1], format="gray").astype(np.float32)
        scores.append(0.0 if prev is None else float(np.mean(np.abs(thumb - prev)) / 255.0))
        prev = thumb
        if detector is not None and idx % dcfg.sample_every == 0:
            batch_idx.append(idx)
            batch.append(frame.to_ndarray(format="bgr24"))
            if len(batch) >= dcfg.batch:
                flush()
        count += 1
        if on_progress is not None and count % 25 == 0:
            on_progress(count, info.frames)
    if detector is not None and batch:
        flush()
    if count != info.frames:
        raise BadInputError(f"{input_path}: decoded {count} of {info.frames} frames; the file is truncated")
    region_frames: list[bool] = []
    with_regions = 0
    if detector is not None:
        timeline = build_timeline(samples, info.frames, info.width, info.height, dcfg)
        write_text_atomic(workdir / "detections.json", timeline.to_json())
        region_frames = [bool(timeline.boxes_at(i)) for i in range(info.frames)]
        with_regions = sum(region_frames)
    else:
        (workdir / "detections.json").unlink(missing_ok=True)
    cuts = scene_cuts(scores, config.segmentation.scene_threshold)
    plan = SegmentPlan(
        input=str(input_path),
        input_size=info.size,
        probe=info,
        config=config,
        segments=make_segments(info, config.segmentation, region_frames, cuts),
        frames_with_regions=with_regions,
        scene_cuts=cuts,
        detect_seconds=round(time.monotonic() - started, 3),
    )
    plan.write(workdir)
    if on_progress is not None:
        on_progress(info.frames, info.frames)
    return plan
