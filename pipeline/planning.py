"""Detect stage: probe, one decoding pass for sampled detection and scene scores (none for static regions),
then the segment plan."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic
from .config import JobConfig
from .decode import iter_frames
from .detect import Box, build_timeline, make_detector
from .encode import choose_encoder
from .encoderpin import planned_encoder
from .errors import BadInputError
from .pixfmt import output_format, software_needed
from .plan import SegmentPlan, make_segments
from .probe import ProbeInfo, probe
from .scenes import scene_cuts, score, thumbnail

ProgressFn = Callable[[int, int], None]


# Scene scores before a window, so that its first frames are judged against the motion before them.
HISTORY = 10


def frame_scores(path: Path, info: ProbeInfo, start: int, end: int) -> list[float]:
    """Scene-change scores of frames [start, end); the first one has nothing to compare with and scores 0."""
    scores: list[float] = []
    prev: np.ndarray | None = None
    for _, frame in iter_frames(path, info, start, end):
        thumb = thumbnail(frame)
        scores.append(score(prev, thumb))
        prev = thumb
    return scores


def cuts_near(path: Path, info: ProbeInfo, bounds: list[int], window: int, threshold: float) -> list[int]:
    """Scene cuts within `window` frames of each boundary: only those frames can move a boundary."""
    cuts: set[int] = set()
    for b in bounds:
        lo, hi = max(0, b - window - HISTORY - 1), min(info.frames, b + window + 1)
        cuts.update(lo + i for i in scene_cuts(frame_scores(path, info, lo, hi), threshold) if i > HISTORY // 2)
    return sorted(cuts)


def plan_without_pixels(
    input_path: Path, workdir: Path, info: ProbeInfo, config: JobConfig, started: float
) -> SegmentPlan:
    """Static regions (or none) need no detection pass: cost is known up front, and only the frames around the
    planned boundaries are decoded, for scene cuts to snap to. A single segment decodes nothing at all."""
    dcfg, seg_cfg = config.detector, config.segmentation
    region_frames: list[bool] = []
    with_regions = 0
    if dcfg.kind == "static" and config.operation.kind != "none":
        # The static detector only reads the frame size: a zero-stride view stands in for a decoded frame.
        blank = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (info.height, info.width, 3))
        boxes = make_detector(dcfg).detect([blank])[0]
        samples = {i: boxes for i in range(0, info.frames, dcfg.sample_every)}
        timeline = build_timeline(samples, info.frames, info.width, info.height, dcfg)
        write_text_atomic(workdir / "detections.json", timeline.to_json())
        region_frames = [bool(timeline.boxes_at(i)) for i in range(info.frames)]
        with_regions = sum(region_frames)
    else:
        (workdir / "detections.json").unlink(missing_ok=True)
    provisional = make_segments(info, seg_cfg, region_frames, [])
    bounds = [s.start for s in provisional[1:]]
    cuts = cuts_near(input_path, info, bounds, seg_cfg.scene_snap_window, seg_cfg.scene_threshold) if bounds else []
    return SegmentPlan(
        input=str(input_path),
        input_size=info.size,
        probe=info,
        config=config,
        segments=make_segments(info, seg_cfg, region_frames, cuts),
        frames_with_regions=with_regions,
        scene_cuts=cuts,
        detect_seconds=round(time.monotonic() - started, 3),
    )


def detect_and_plan(
    input_path: Path | str,
    workdir: Path | str,
    config: JobConfig,
    on_progress: ProgressFn | None = None,
    pin_encoder_here: bool = True,
) -> SegmentPlan:
    """`pin_encoder_here`: the segments will run on this machine (the local runner), so encoder auto is decided
    here; a cluster's detect pod passes False (see encoderpin.planned_encoder)."""
    input_path, workdir = Path(input_path), Path(workdir)
    started = time.monotonic()
    info = probe(input_path)
    needs_software = software_needed(info.pix_fmt, info.width, info.height)
    encoder = planned_encoder(config.encode, pin_encoder_here, needs_software)
    # Before any work: one line when the job's encoder cannot hold the source's depth, chroma or size.
    final = choose_encoder(config.encode, needs_software) if config.encode.stage == "finalize" else encoder
    if final is not None:
        output_format(final, info.pix_fmt, info.width, info.height)
    if on_progress is not None:
        on_progress(0, info.frames)
    workdir.mkdir(parents=True, exist_ok=True)
    dcfg = config.detector
    detecting = dcfg.kind != "none" and config.operation.kind != "none"
    if not detecting or dcfg.kind == "static":
        plan = plan_without_pixels(input_path, workdir, info, config, started)
        plan.encoder = encoder
        plan.write(workdir)
        if on_progress is not None:
            on_progress(info.frames, info.frames)
        return plan
    detector = make_detector(dcfg)
    samples: dict[int, list[Box]] = {}
    batch_idx: list[int] = []
    batch: list[np.ndarray] = []
    scores: list[float] = []
    prev: np.ndarray | None = None

    def flush() -> None:
        for i, boxes in zip(batch_idx, detector.detect(batch), strict=True):
            samples[i] = boxes
        batch_idx.clear()
        batch.clear()

    count = 0
    for idx, frame in iter_frames(input_path, info, 0, info.frames):
        thumb = thumbnail(frame)
        scores.append(score(prev, thumb))
        prev = thumb
        if idx % dcfg.sample_every == 0:
            batch_idx.append(idx)
            batch.append(frame.to_ndarray(format="bgr24"))
            if len(batch) >= dcfg.batch:
                flush()
        count += 1
        if on_progress is not None and count % 25 == 0:
            on_progress(count, info.frames)
    if batch:
        flush()
    if count != info.frames:
        raise BadInputError(f"{input_path}: decoded {count} of {info.frames} frames; the file is truncated")
    timeline = build_timeline(samples, info.frames, info.width, info.height, dcfg)
    write_text_atomic(workdir / "detections.json", timeline.to_json())
    region_frames = [bool(timeline.boxes_at(i)) for i in range(info.frames)]
    with_regions = sum(region_frames)
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
        encoder=encoder,
    )
    plan.write(workdir)
    if on_progress is not None:
        on_progress(info.frames, info.frames)
    return plan
