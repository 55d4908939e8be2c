"""Boxes in pixel coordinates, the unit every detector returns and every operation consumes."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


class Box(BaseModel):
    """An axis-aligned box; x1 and y1 are exclusive so that width = x1 - x0."""

    model_config = ConfigDict(frozen=True)

    x0: int
    y0: int
    x1: int
    y1: int
    score: float = 1.0
    label: str = ""
    track_id: int | None = None

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def clipped(self, width: int, height: int) -> Box | None:
        """The part of the box inside a width x height frame, or None when nothing is left."""
        x0, y0 = max(0, self.x0), max(0, self.y0)
        x1, y1 = min(width, self.x1), min(height, self.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return self.model_copy(update={"x0": x0, "y0": y0, "x1": x1, "y1": y1})

    def padded(self, fraction: float) -> Box:
        """Grow by `fraction` of the box's own size on every side (detections are tight; privacy wants margin)."""
        dx = math.ceil(self.width * fraction - 1e-6)  # rounded up: the margin is the point
        dy = math.ceil(self.height * fraction - 1e-6)
        return self.model_copy(update={"x0": self.x0 - dx, "y0": self.y0 - dy, "x1": self.x1 + dx, "y1": self.y1 + dy})


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
