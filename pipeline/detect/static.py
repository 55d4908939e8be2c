"""Fixed regions given in normalized coordinates: the same boxes on every frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Detector
from .config import NormRegion
from .regions import Box


def region_to_box(region: NormRegion, width: int, height: int, index: int) -> Box:
    x0 = int(np.floor(region.x * width))
    y0 = int(np.floor(region.y * height))
    x1 = int(np.ceil((region.x + region.w) * width))
    y1 = int(np.ceil((region.y + region.h) * height))
    return Box(x0=x0, y0=y0, x1=min(x1, width), y1=min(y1, height), label="static", track_id=index)


class StaticDetector:
    name = "static"

    def __init__(self, regions: Sequence[NormRegion]) -> None:
        self.regions = list(regions)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        out = []
        for frame in frames:
            h, w = frame.shape[:2]
            out.append([region_to_box(r, w, h, i) for i, r in enumerate(self.regions)])
        return out

    def reset(self) -> None:
        pass


class WithFixedRegions:
    """A detector's boxes plus fixed regions on every frame: e.g. faces found by YOLO and a burned-in timestamp.

    The fixed boxes get track ids far above any the tracker hands out, so the two never merge.
    """

    FIXED_TRACK_BASE = 1_000_000

    def __init__(self, detector: Detector, regions: Sequence[NormRegion]) -> None:
        self.detector = detector
        self.fixed = StaticDetector(regions)
        self.name = f"{getattr(detector, 'name', 'detector')}+static"

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        found = self.detector.detect(frames)
        fixed = self.fixed.detect(frames)
        shift = self.FIXED_TRACK_BASE
        return [
            [*boxes, *(b.model_copy(update={"track_id": shift + (b.track_id or 0)}) for b in extra)]
            for boxes, extra in zip(found, fixed, strict=True)
        ]

    def reset(self) -> None:
        self.detector.reset()
