"""YOLO plumbing with a random-weight yolov8n built from its yaml and loaded back from a local file.

Random weights detect nothing meaningful, so these tests check what our code does with what the model returns:
batching, the class and confidence filters, coordinates inside the frame, loading from a path only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.media import frame_image
from videojob.pipeline.detect import DetectorConfig, make_detector
from videojob.pipeline.errors import BadInputError


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("models") / "random-yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def frames(n: int) -> list[np.ndarray]:
    return [frame_image(i, 320, 240)[..., ::-1].copy() for i in range(n)]


def test_batched_detection_respects_filters(weights: Path) -> None:
    cfg = DetectorConfig(
        kind="yolo", model=str(weights), confidence=0.0001, classes=[0, 2], imgsz=320, batch=4, device="cpu"
    )
    detector = make_detector(cfg)
    result = detector.detect(frames(6))
    assert len(result) == 6
    boxes = [b for per_frame in result for b in per_frame]
    assert boxes, "a random model at confidence 0.0001 still proposes boxes"
    names = detector.names  # type: ignore[attr-defined]
    assert {b.label for b in boxes} <= {names[0], names[2]}
    assert all(b.score >= 0.0001 for b in boxes)
    assert all(0 <= b.x0 < b.x1 <= 320 and 0 <= b.y0 < b.y1 <= 240 for b in boxes)


def test_confidence_threshold_removes_weak_boxes(weights: Path) -> None:
    low = make_detector(
        DetectorConfig(kind="yolo", model=str(weights), confidence=0.0001, classes=[], imgsz=320, device="cpu")
    )
    scores = sorted(b.score for per in low.detect(frames(2)) for b in per)
    assert scores
    cut = scores[len(scores) // 2]
    high = make_detector(
        DetectorConfig(kind="yolo", model=str(weights), confidence=cut, classes=[], imgsz=320, device="cpu")
    )
    kept = [b.score for per in high.detect(frames(2)) for b in per]
    assert all(s >= cut for s in kept)
    assert len(kept) < len(scores)


def test_weights_come_from_a_local_path_only(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found"):
        make_detector(DetectorConfig(kind="yolo", model=str(tmp_path / "yolov8n.pt")))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="could not be loaded"):
        make_detector(DetectorConfig(kind="yolo", model=str(junk)))
