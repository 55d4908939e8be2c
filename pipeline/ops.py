"""Region operations on BGR frames (CPU, OpenCV). A GPU backend with the same meaning lives in pipeline/gpu."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .config import OperationConfig
from .detect.regions import Box


def _odd(n: int) -> int:
    return max(3, n | 1)


def blur_kernel(box: Box, strength: float) -> int:
    return _odd(int(min(box.width, box.height) * strength))


def apply_operation(frame: np.ndarray, boxes: Sequence[Box], op: OperationConfig) -> np.ndarray:
    """Return the frame with the operation applied inside every box (the input array may be modified)."""
    if op.kind == "none" or not boxes:
        return frame
    if op.kind == "inpaint":
        mask = np.zeros(frame.shape[:2], np.uint8)
        for b in boxes:
            mask[b.y0 : b.y1, b.x0 : b.x1] = 255
        flag = cv2.INPAINT_TELEA if op.inpaint_method == "telea" else cv2.INPAINT_NS
        return cv2.inpaint(frame, mask, op.inpaint_radius, flag)
    for b in boxes:
        roi = frame[b.y0 : b.y1, b.x0 : b.x1]
        if roi.size == 0:
            continue
        if op.kind == "blur":
            k = blur_kernel(b, op.blur_strength)
            # Two box passes approximate a Gaussian at a fraction of the cost for large kernels.
            roi[:] = cv2.blur(cv2.blur(roi, (k, k)), (k, k))
        elif op.kind == "pixelate":
            blocks = max(1, op.pixelate_blocks)
            scale = blocks / max(1, min(b.width, b.height))
            small_w = max(1, round(b.width * scale))
            small_h = max(1, round(b.height * scale))
            small = cv2.resize(roi, (small_w, small_h), interpolation=cv2.INTER_AREA)
            roi[:] = cv2.resize(small, (b.width, b.height), interpolation=cv2.INTER_NEAREST)
        elif op.kind == "fill":
            r, g, bl = op.fill_color
            roi[:] = (bl, g, r)
    return frame
