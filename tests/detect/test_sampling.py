"""Sampled detection over (index, frame) pairs, and the package staying light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from videojob.pipeline.detect import DetectorConfig, make_detector
from videojob.pipeline.detect.sampling import detect_frames


def test_every_kth_frame_in_batches_keyed_by_frame_index(tmp_path: Path) -> None:
    mark = np.zeros((12, 12, 3), np.uint8)
    cv2.circle(mark, (6, 6), 4, (255, 255, 255), -1)
    path = tmp_path / "mark.png"
    cv2.imwrite(str(path), mark)
    detector = make_detector(DetectorConfig(kind="template", template=str(path), template_threshold=0.9))

    def frames():  # the mark sits at x = 3 * index, so each result tells which frame it came from
        for i in range(23):
            f = np.full((60, 100, 3), 40, np.uint8)
            f[20:32, 3 * i : 3 * i + 12] = mark
            yield i, f

    found = detect_frames(detector, frames(), sample_every=5, batch=2)
    assert sorted(found) == [0, 5, 10, 15, 20]
    assert {i: [(b.x0, b.y0) for b in boxes] for i, boxes in found.items()} == {i: [(3 * i, 20)] for i in found}


def test_importing_the_package_loads_neither_torch_nor_ultralytics() -> None:
    code = (
        "import sys, videojob.pipeline.detect as d; d.DetectorConfig(kind='none'); "
        "print(sorted(m for m in ('torch', 'ultralytics', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
