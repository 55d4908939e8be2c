"""Find a given image (a logo, a burned-in overlay) with OpenCV template matching."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from .regions import Box, iou

MAX_MATCHES = 16


class TemplateDetector:
    name = "template"

    def __init__(self, template_path: str, threshold: float = 0.8) -> None:
        path = Path(template_path)
        if not path.is_file():
            raise BadInputError(f"template image {template_path} does not exist")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise BadInputError(f"template image {template_path} is not an image OpenCV can read")
        self.template = image
        self.threshold = threshold

    def _match(self, frame: np.ndarray) -> list[Box]:
        th, tw = self.template.shape[:2]
        fh, fw = frame.shape[:2]
        if th > fh or tw > fw:
            return []
        scores = cv2.matchTemplate(frame, self.template, cv2.TM_CCOEFF_NORMED)
        ys, xs = np.nonzero(scores >= self.threshold)
        order = np.argsort(-scores[ys, xs])
        found: list[Box] = []
        for k in order:
            x, y = int(xs[k]), int(ys[k])
            box = Box(x0=x, y0=y, x1=x + tw, y1=y + th, score=float(scores[y, x]), label="template")
            # Non-maximum suppression: neighbours of a peak score almost as high.
            if all(iou(box, kept) < 0.3 for kept in found):
                found.append(box)
                if len(found) >= MAX_MATCHES:
                    break
        return found

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        return [self._match(f) for f in frames]

    def reset(self) -> None:
        pass
