"""Detect stage: probe by demuxing and plan the segments. No frame is decoded here (but the first, for its display
matrix): the stage takes seconds for hours of video, and detection runs in the segments on their own frames
(segment.py), so nothing serial grows with the video."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import JobConfig
from .encode import choose_encoder
from .encoderpin import planned_encoder
from .objectstore import ObjectURL, as_media
from .pixfmt import output_format, software_needed
from .plan import SegmentPlan, make_segments
from .probe import ProbeInfo, probe
from .scenes import packet_cuts
from .segmentdetect import shared_detector

ProgressFn = Callable[[int, int], None]


def check_detector(config: JobConfig, info: ProbeInfo) -> int:
    """Fail here, before any segment, on a detector that cannot run (a missing or unreadable template or YOLO
    weights: one line); returns the frames known to carry regions (fixed regions are on every frame, what a
    detector finds is known only to the segments: 0)."""
    dcfg = config.detector
    if dcfg.kind == "none" or config.operation.kind == "none":
        return 0
    if dcfg.kind == "static":
        # The static detector only reads the frame size: a zero-stride view stands in for a decoded frame.
        blank = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (info.height, info.width, 3))
        return info.frames if shared_detector(dcfg).detect([blank])[0] else 0
    shared_detector(dcfg)  # loads the template or the weights, as every segment will (kept for them in-process)
    return 0


def near_boundaries(cuts: list[int], bounds: list[int], window: int) -> list[int]:
    ordered = np.asarray(bounds, np.int64)
    if not ordered.size:
        return []
    cut = np.asarray(cuts, np.int64)
    pos = np.clip(np.searchsorted(ordered, cut), 1, len(ordered)) - 1
    nearest = np.minimum(np.abs(cut - ordered[pos]), np.abs(cut - ordered[np.minimum(pos + 1, len(ordered) - 1)]))
    return [int(c) for c in cut[nearest <= window]]


def detect_and_plan(
    input_path: Path | str | ObjectURL,
    workdir: Path | str,
    config: JobConfig,
    on_progress: ProgressFn | None = None,
    pin_encoder_here: bool = True,
) -> SegmentPlan:
    """`pin_encoder_here`: the segments will run on this machine (the local runner), so encoder auto is decided
    here; a cluster's detect pod passes False (see encoderpin.planned_encoder)."""
    input_path, workdir = as_media(input_path), Path(workdir)
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
    with_regions = check_detector(config, info)
    workdir.mkdir(parents=True, exist_ok=True)
    # Left by an older videojob that detected here: the segments no longer read it.
    (workdir / "detections.json").unlink(missing_ok=True)
    index = info.index
    assert index.sizes is not None  # a fresh probe knows its packets
    cuts = packet_cuts(index.sizes, index.keyframes)
    segments = make_segments(info, config.segmentation, cuts)
    plan = SegmentPlan(
        input=str(input_path),
        input_size=info.size,
        probe=info,
        config=config,
        segments=segments,
        frames_with_regions=with_regions,
        # The cuts a boundary could snap to (those within the window of one): every keyframe of hours of video
        # would make the plan grow with it.
        scene_cuts=near_boundaries(cuts, [s.start for s in segments[1:]], config.segmentation.scene_snap_window),
        detect_seconds=round(time.monotonic() - started, 3),
        encoder=encoder,
    )
    plan.write(workdir)
    if on_progress is not None:
        on_progress(info.frames, info.frames)
    return plan
