"""Find a given image (a logo, a burned-in overlay) with OpenCV template matching."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from .regions import Box

MAX_MATCHES = 16
# Matches overlapping more than this are one object seen at neighbouring offsets or scales.
NMS_IOU = 0.3


_matchers: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _matchers
    if _matchers is None:
        _matchers = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="template")
    return _matchers


class TemplateDetector:
    """TM_CCOEFF_NORMED over the colour frame at each of `scales`; local peaks above the threshold, then
    non-maximum suppression (OpenCV's NMSBoxes) across positions and scales."""

    name = "template"

    def __init__(self, template_path: str, threshold: float = 0.8, scales: Sequence[float] = (1.0,)) -> None:
        path = Path(template_path)
        if not path.is_file():
            raise BadInputError(f"template image {template_path} does not exist")
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise BadInputError(f"template image {template_path} is not an image OpenCV can read")
        mask = None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            # A logo with transparency: only its opaque pixels are compared (the background behind it varies).
            alpha = image[..., 3]
            image = np.ascontiguousarray(image[..., :3])
            if alpha.min() < 255:
                mask = np.where(alpha > 0, 255, 0).astype(np.uint8)
        image = image.astype(np.uint8) if image.dtype != np.uint8 else image
        if min(image.shape[:2]) < 4:
            raise BadInputError(
                f"template image {template_path} is {image.shape[1]}x{image.shape[0]}; need at least 4x4"
            )
        shown = image if mask is None else image[mask > 0]
        if shown.size == 0 or float(shown.std()) == 0.0:
            # A flat template correlates with nothing (TM_CCOEFF_NORMED divides by its zero variance).
            raise BadInputError(f"template image {template_path} is a single flat colour; crop it to the logo itself")
        self.template = image
        self.threshold = threshold
        # (template, 3-channel mask or None) per scale
        self.templates: list[tuple[np.ndarray, np.ndarray | None]] = []
        for scale in sorted(set(scales)):
            size = (max(4, round(image.shape[1] * scale)), max(4, round(image.shape[0] * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            scaled = image if scale == 1 else cv2.resize(image, size, interpolation=interp)
            m = None
            if mask is not None:
                m = mask if scale == 1 else cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
                m = cv2.merge([m, m, m])
            self.templates.append((scaled, m))

    def _candidates(
        self, frame: np.ndarray, template: np.ndarray, mask: np.ndarray | None
    ) -> tuple[list[list[int]], list[float]]:
        th, tw = template.shape[:2]
        fh, fw = frame.shape[:2]
        if th > fh or tw > fw:
            return [], []
        scores = cv2.matchTemplate(frame, template, cv2.TM_CCOEFF_NORMED, mask=mask)
        # Flat frame areas give NaN/inf (zero variance); they match nothing.
        scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
        # Local maxima only: a match scores almost as high one pixel off, and NMS over every pixel is slow.
        peaks = (scores >= self.threshold) & (scores >= cv2.dilate(scores, np.ones((3, 3), np.uint8)))
        ys, xs = np.nonzero(peaks)
        return [[int(x), int(y), tw, th] for x, y in zip(xs, ys, strict=True)], [float(v) for v in scores[ys, xs]]

    def _match(self, frame: np.ndarray) -> list[Box]:
        rects: list[list[int]] = []
        scores: list[float] = []
        for template, mask in self.templates:
            r, s = self._candidates(frame, template, mask)
            rects += r
            scores += s
        if not rects:
            return []
        keep = cv2.dnn.NMSBoxes(rects, scores, self.threshold, NMS_IOU, top_k=MAX_MATCHES)
        found = []
        for k in np.asarray(keep, int).reshape(-1):
            x, y, w, h = rects[k]
            found.append(Box(x0=x, y0=y, x1=x + w, y1=y + h, score=scores[k], label="template"))
        return found

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        if len(frames) < 2:
            return [self._match(f) for f in frames]
        # The frames of a batch are matched at once on every core: cv2.matchTemplate releases the GIL and uses one
        # core for a colour frame, and a segment's first frames wait for a batch of samples (its start-up).
        return list(_pool().map(self._match, frames))

    def reset(self) -> None:
        pass
