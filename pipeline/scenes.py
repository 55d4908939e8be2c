"""A cheap scene-change score: mean absolute difference of tiny grayscale thumbnails."""

from __future__ import annotations

import cv2
import numpy as np

THUMB = (32, 18)


def thumbnail(frame_bgr: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def scene_cuts(scores: list[float], threshold: float) -> list[int]:
    """Frame indexes that start a new scene: score[i] compares frame i with frame i-1 (score[0] is 0)."""
    return [i for i, s in enumerate(scores) if i > 0 and s >= threshold]


def score(prev: np.ndarray | None, cur: np.ndarray) -> float:
    if prev is None:
        return 0.0
    return float(np.mean(np.abs(cur - prev)) / 255.0)
