"""Run a detector over some of a video's frames, in batches."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .base import Detector
from .regions import Box


def detect_frames(
    detector: Detector, frames: Iterable[tuple[int, np.ndarray]], sample_every: int = 1, batch: int = 8
) -> dict[int, list[Box]]:
    """Detections for every `sample_every`-th frame of (index, frame) pairs, keyed by frame index."""
    out: dict[int, list[Box]] = {}
    pending_idx: list[int] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        for idx, boxes in zip(pending_idx, detector.detect(pending), strict=True):
            out[idx] = boxes
        pending_idx.clear()
        pending.clear()

    for index, frame in frames:
        if index % sample_every:
            continue
        pending_idx.append(index)
        pending.append(frame)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return out
