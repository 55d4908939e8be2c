"""YOLO detection with ultralytics, from a local weights file only (nothing is downloaded at run time)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError
from .config import DetectorConfig
from .regions import Box
from .tracking import IouTracker

# With tracking on, boxes down to this fraction of the confidence threshold may continue a track (ByteTrack's
# low/high thresholds are 0.1/0.25 to 0.5).
LOW_FRACTION = 0.4


def offline_ultralytics() -> None:
    """Before the first ultralytics import: never reach for the network, keep settings in a writable place."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if "YOLO_CONFIG_DIR" not in os.environ:
        path = Path(tempfile.gettempdir()) / "videojob-ultralytics"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(path)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "cuda" or device.isdigit():
        device = "cuda:0" if device == "cuda" else f"cuda:{device}"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError(f"detector device {device} was asked for but CUDA is not available; use device auto or cpu")
    return device


def image_size(width: int, height: int, largest: int) -> int:
    """The network's input size for frames of this size: the longer side rounded up to the stride (32), never more
    than the configured `largest`. A 176x144 clip runs at 192, not upscaled to 640: five times less work for
    nothing lost (the model sees no more detail than the source has)."""
    return min(largest, -(-max(width, height) // 32) * 32)


class YoloDetector:
    """Batched predict, then (with `track`) IoU tracking that keeps ids across calls; the region timeline
    interpolates and holds along those ids, which bridges frames the detector misses."""

    name = "yolo"

    def __init__(self, cfg: DetectorConfig) -> None:
        assert cfg.model is not None
        path = Path(cfg.model)
        if not path.is_file():
            raise BadInputError(f"YOLO weights {cfg.model} not found; mount the model file and give its path")
        offline_ultralytics()
        from ultralytics import YOLO

        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.half = self.device.startswith("cuda")
        try:
            self.model: Any = YOLO(str(path))
            # Reading the class names loads the weights for formats ultralytics opens lazily (anything not .pt:
            # an image or a text file fails only here), so it belongs to the load.
            self.names: dict[int, str] = dict(getattr(self.model, "names", {}) or {})
        except Exception as exc:  # ultralytics raises many kinds for a bad file
            reason = " ".join(str(exc).split())  # one line, whatever ultralytics wrote
            reason = reason if len(reason) <= 300 else reason[:297] + "..."
            raise BadInputError(
                f"YOLO weights {cfg.model} could not be loaded ({exc.__class__.__name__}: {reason}); give a local "
                "ultralytics .pt file"
            ) from exc
        self.tracker = IouTracker(high=cfg.confidence, low=cfg.confidence * LOW_FRACTION) if cfg.track else None
        # Weak boxes are only worth predicting when the tracker can use them.
        self.predict_conf = cfg.confidence * LOW_FRACTION if cfg.track else cfg.confidence

    def warmup(self, width: int = 640, height: int = 384) -> None:
        """One throwaway batch so that the first timed batch does not pay for lazy initialisation."""
        self.detect([np.zeros((height, width, 3), np.uint8)] * self.cfg.batch)
        self.reset()

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        out: list[list[Box]] = []
        # ultralytics runs a list of images as one batch whatever `batch` says: chunk here to bound memory.
        for start in range(0, len(frames), self.cfg.batch):
            chunk = list(frames[start : start + self.cfg.batch])
            results = self.model.predict(
                chunk,
                imgsz=image_size(chunk[0].shape[1], chunk[0].shape[0], self.cfg.imgsz),
                conf=self.predict_conf,
                iou=self.cfg.iou,
                classes=self.cfg.classes or None,
                device=self.device,
                # FP16 on CUDA (ultralytics 8.4 calls this `quantize`; `half` is deprecated).
                quantize=16 if self.half else None,
                verbose=False,
            )
            for frame, result in zip(chunk, results, strict=True):
                boxes = self._boxes(result, frame.shape[1], frame.shape[0])
                if self.tracker is not None:
                    boxes = self.tracker.update(boxes)
                out.append(boxes)
        return out

    def _boxes(self, result: Any, width: int, height: int) -> list[Box]:
        data = result.boxes.data.cpu().numpy()  # one transfer: x0, y0, x1, y1, conf, cls per row
        frame_boxes = []
        for x0, y0, x1, y1, score, c in data[:, :6]:
            # Round outwards: a box that is one pixel short leaves an edge of a face visible.
            box = Box(
                x0=int(np.floor(x0)),
                y0=int(np.floor(y0)),
                x1=int(np.ceil(x1)),
                y1=int(np.ceil(y1)),
                score=float(score),
                label=self.names.get(int(c), str(int(c))),
            ).clipped(width, height)
            if box is not None:
                frame_boxes.append(box)
        return frame_boxes

    def reset(self) -> None:
        if self.tracker is not None:
            self.tracker.reset()
