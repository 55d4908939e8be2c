"""A cheap scene-change score: mean absolute difference of tiny grayscale thumbnails."""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import VideoReformatter

THUMB = (64, 36)  # 32x18 averages fine textures away: a cut between two busy scenes scored under 0.05

_thumbnailer = VideoReformatter()


def thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """A tiny grey thumbnail scaled by FFmpeg: far cheaper than a full-size conversion. One kept swscale context
    (a frame's own reformat() builds a context and a thread pool per call)."""
    small = _thumbnailer.reformat(frame, width=THUMB[0], height=THUMB[1], format="gray", threads=1)
    return small.to_ndarray().astype(np.float32)


def scene_cuts(scores: list[float], threshold: float, window: int = 10, ratio: float = 4.0) -> list[int]:
    """Frame indexes that start a new scene: score[i] compares frame i with frame i-1 (score[0] is 0).

    A cut needs an absolute jump and a jump well above the recent motion, so fast pans are not cuts.
    """
    cuts = []
    for i in range(1, len(scores)):
        recent = scores[max(1, i - window) : i]
        baseline = float(np.median(recent)) if recent else 0.0
        if scores[i] >= threshold and scores[i] >= ratio * baseline:
            cuts.append(i)
    return cuts


def score(prev: np.ndarray | None, cur: np.ndarray) -> float:
    if prev is None:
        return 0.0
    return float(np.mean(np.abs(cur - prev)) / 255.0)
