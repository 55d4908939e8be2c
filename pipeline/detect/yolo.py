"""YOLO detection with ultralytics, from a local weights file only (nothing is downloaded at run time)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError
from .config import DetectorConfig
from .regions import Box


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


class YoloDetector:
    """Batched predict; the region timeline (IoU tracks, interpolation, hold) bridges frames a detector misses."""

    name = "yolo"

    def __init__(self, cfg: DetectorConfig) -> None:
        assert cfg.model is not None
        path = Path(cfg.model)
        if not path.is_file():
            raise BadInputError(f"YOLO weights {cfg.model} not found; mount the model file and give its path")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        from ultralytics import YOLO

        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.half = self.device.startswith("cuda")
        try:
            self.model: Any = YOLO(str(path))
        except Exception as exc:  # ultralytics raises many kinds for a bad file
            raise BadInputError(
                f"YOLO weights {cfg.model} could not be loaded ({exc.__class__.__name__}: {exc})"
            ) from exc
        self.names: dict[int, str] = dict(getattr(self.model, "names", {}) or {})

    def warmup(self, width: int = 640, height: int = 384) -> None:
        """One throwaway batch so that the first timed batch does not pay for lazy initialisation."""
        self.detect([np.zeros((height, width, 3), np.uint8)] * min(2, self.cfg.batch))

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Box]]:
        if not frames:
            return []
        results = self.model.predict(
            list(frames),
            imgsz=self.cfg.imgsz,
            conf=self.cfg.confidence,
            iou=self.cfg.iou,
            classes=self.cfg.classes or None,
            device=self.device,
            half=self.half,
            batch=self.cfg.batch,
            verbose=False,
        )
        out: list[list[Box]] = []
        for result in results:
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy() if len(boxes) else np.zeros((0, 4))
            conf = boxes.conf.cpu().numpy() if len(boxes) else np.zeros(0)
            cls = boxes.cls.cpu().numpy().astype(int) if len(boxes) else np.zeros(0, int)
            frame_boxes = []
            for (x0, y0, x1, y1), score, c in zip(xyxy, conf, cls, strict=True):
                frame_boxes.append(
                    Box(
                        x0=int(np.floor(x0)),
                        y0=int(np.floor(y0)),
                        x1=int(np.ceil(x1)),
                        y1=int(np.ceil(y1)),
                        score=float(score),
                        label=self.names.get(int(c), str(int(c))),
                    )
                )
            out.append(frame_boxes)
        return out

    def reset(self) -> None:
        pass
