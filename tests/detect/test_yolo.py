"""YOLO plumbing with a random-weight yolov8n built from its yaml and loaded back from a local file.

Random weights detect nothing meaningful, so these tests check what our code does with what the model returns:
batching, the class and confidence filters, coordinates inside the frame, tracking ids, loading from a path only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from support.media import frame_image
from videojob.pipeline.detect import DetectorConfig, make_detector
from videojob.pipeline.errors import BadInputError

LOW = 0.01  # the random model below proposes about 90 boxes of some 25 classes per frame at this confidence


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    # A freshly initialised model scores every box the same and favours one class (the head's biases are priors);
    # seeded noise on the weights gives varied classes, and a bias shift brings scores up to about 0.01-0.06.
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.model.parameters():
            if p.ndim > 1:
                p.add_(torch.randn(p.shape, generator=gen) * p.std())
        for branch in model.model.model[-1].cv3:
            branch[-1].weight.add_(torch.randn(branch[-1].weight.shape, generator=gen) * 0.2)
            branch[-1].bias.add_(6.0)
    path = tmp_path_factory.mktemp("models") / "random-yolov8n.pt"
    model.save(str(path))
    return path


def frames(n: int) -> list[np.ndarray]:
    return [frame_image(i, 320, 240)[..., ::-1].copy() for i in range(n)]


def yolo(weights: Path, **kw: object) -> DetectorConfig:
    base: dict[str, object] = {"kind": "yolo", "model": str(weights), "imgsz": 320, "device": "cpu", "track": False}
    return DetectorConfig.model_validate(base | kw)


def test_runs_in_batches_of_the_configured_size(weights: Path) -> None:
    detector = make_detector(yolo(weights, confidence=LOW, classes=[], batch=4))
    sizes: list[int] = []
    detector.model.add_callback("on_predict_batch_start", lambda p: sizes.append(len(p.batch[1])))  # type: ignore[attr-defined]
    result = detector.detect(frames(6))
    assert sizes == [4, 2]
    assert len(result) == 6
    boxes = [b for per_frame in result for b in per_frame]
    assert boxes, "a random model at confidence 0.0001 still proposes boxes"
    assert all(0 <= b.x0 < b.x1 <= 320 and 0 <= b.y0 < b.y1 <= 240 for b in boxes)
    assert all(b.track_id is None for b in boxes)  # tracking off


def test_class_filter_keeps_only_the_asked_class(weights: Path) -> None:
    everything = make_detector(yolo(weights, confidence=LOW, classes=[])).detect(frames(2))
    labels = [b.label for per in everything for b in per]
    assert len(set(labels)) > 1, "the unfiltered run must show several classes for this test to mean anything"
    names = make_detector(yolo(weights, classes=[])).names  # type: ignore[attr-defined]
    by_id = {v: k for k, v in names.items()}
    common = max(set(labels), key=labels.count)
    filtered = make_detector(yolo(weights, confidence=LOW, classes=[by_id[common]])).detect(frames(2))
    kept = {b.label for per in filtered for b in per}
    assert kept == {common}


def test_confidence_threshold_removes_weak_boxes(weights: Path) -> None:
    low = make_detector(yolo(weights, confidence=LOW, classes=[]))
    scores = sorted(b.score for per in low.detect(frames(2)) for b in per)
    assert scores
    cut = (scores[0] + scores[-1]) / 2
    high = make_detector(yolo(weights, confidence=cut, classes=[]))
    kept = [b.score for per in high.detect(frames(2)) for b in per]
    assert all(s >= cut for s in kept)
    assert 0 < len(kept) < len(scores)


def test_tracking_keeps_ids_across_calls_and_reset_forgets_them(weights: Path) -> None:
    conf = 0.03  # between the two score levels of the random model: some boxes are strong, some weak
    detector = make_detector(yolo(weights, confidence=conf, classes=[], track=True, batch=2))
    still = frames(1) * 3  # the same picture: every object must keep its id
    first = detector.detect(still)
    ids = [{b.track_id for b in per} for per in first]
    assert ids[0] and None not in ids[0]
    assert ids[1] == ids[0] and ids[2] == ids[0]
    assert {b.track_id for b in detector.detect(still[:1])[0]} == ids[0]  # a later call continues the tracks
    # Weak boxes were predicted (tracking asks for them) but none starts a track of its own.
    assert all(b.score >= conf for b in first[0])
    detector.reset()
    assert min(b.track_id or 0 for b in detector.detect(still[:1])[0]) == 1


def test_weights_come_from_a_local_path_only(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found"):
        make_detector(DetectorConfig(kind="yolo", model=str(tmp_path / "yolov8n.pt")))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="could not be loaded") as err:
        make_detector(DetectorConfig(kind="yolo", model=str(junk)))
    assert "\n" not in str(err.value)
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_CONFIG_DIR"]


def test_cuda_asked_for_without_cuda_is_a_clear_error(weights: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: this checks the error on a machine without it")
    with pytest.raises(BadInputError, match="CUDA is not available"):
        make_detector(yolo(weights, device="cuda:0"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"imgsz": 100}, "multiple of 32"),
        ({"device": "gpu"}, "'auto', 'cpu' or 'cuda:N'"),
        ({"classes": [-1]}, "class ids >= 0"),
        ({"model": None}, "local model path"),
    ],
)
def test_bad_yolo_settings_are_refused(weights: Path, fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        yolo(weights, **fields)


@pytest.mark.parametrize(("size", "expected"), [((176, 144), 192), ((100, 300), 320), ((1920, 1080), 640)])
def test_the_image_size_follows_the_source(weights: Path, size: tuple[int, int], expected: int) -> None:
    """The network runs at the source's longer side rounded up to the stride, capped at imgsz: no upscaling of a
    small clip to 640."""
    width, height = size
    detector = make_detector(yolo(weights, confidence=LOW, classes=[], imgsz=640))
    shapes: list[tuple[int, ...]] = []
    detector.model.add_callback(  # type: ignore[attr-defined]
        "on_predict_postprocess_end", lambda p: shapes.append(tuple(p.imgsz))
    )
    detector.detect([np.zeros((height, width, 3), np.uint8)])
    assert shapes and max(shapes[0]) == expected, shapes
