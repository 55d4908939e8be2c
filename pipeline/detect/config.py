"""Detector settings: one pydantic model shared by the CLI, the worker and (by field name) the CRD."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What torch accepts as a device string, plus "auto" (CUDA when present, else CPU).
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda|cuda:\d+|\d+)$")


class NormRegion(BaseModel):
    """A rectangle in normalized coordinates (fractions of the frame's width and height)."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0.0, le=1.0)
    y: float = Field(ge=0.0, le=1.0)
    w: float = Field(gt=0.0, le=1.0)
    h: float = Field(gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _inside_frame(self) -> NormRegion:
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise ValueError(
                f"region {self.x},{self.y},{self.w},{self.h} extends past the frame (x+w and y+h must be <= 1)"
            )
        return self

    @classmethod
    def parse(cls, text: str) -> NormRegion:
        """Parse the CLI form `x,y,w,h`."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError(f"region {text!r} must be x,y,w,h in normalized coordinates, e.g. 0.1,0.1,0.2,0.2")
        x, y, w, h = (float(p) for p in parts)
        return cls(x=x, y=y, w=w, h=h)


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["yolo", "template", "static", "none"] = "static"
    # yolo
    model: str | None = None
    # COCO class ids to keep (0 = person); an empty list keeps every class the model knows.
    classes: list[int] = Field(default_factory=lambda: [0])
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32, le=4096)
    batch: int = Field(default=8, ge=1, le=256)
    device: str = "auto"
    # template
    template: str | None = None
    template_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    # Sizes of the template to look for, relative to the image file (e.g. [0.8, 1.0, 1.25] for a rescaled logo).
    template_scales: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    # Fixed regions: the whole detector for `static`; with yolo or template, processed on every frame besides
    # what the detector finds (e.g. a burned-in timestamp next to detected faces).
    regions: list[NormRegion] = Field(default_factory=list)
    # temporal handling
    sample_every: int = Field(default=5, ge=1, le=1000)
    hold_frames: int = Field(default=10, ge=0, le=10000)
    padding: float = Field(default=0.1, ge=0.0, le=2.0)
    dense: bool = False
    context_frames: int = Field(default=8, ge=0, le=1000)
    track: bool = True

    @field_validator("classes")
    @classmethod
    def _class_ids(cls, v: list[int]) -> list[int]:
        if any(c < 0 for c in v):
            raise ValueError(f"classes {v} must be class ids >= 0 (0 = person in COCO models)")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError(f"device {v!r} must be 'auto', 'cpu' or 'cuda:N'")
        return v

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"imgsz {v} must be a multiple of 32 (the YOLO stride), e.g. {max(32, v // 32 * 32)}")
        return v

    @field_validator("template_scales")
    @classmethod
    def _scales(cls, v: list[float]) -> list[float]:
        if any(not 0.05 <= s <= 20 for s in v):
            raise ValueError(f"template_scales {v} must lie between 0.05 and 20")
        return v

    @model_validator(mode="after")
    def _required_per_kind(self) -> DetectorConfig:
        if self.kind == "static" and not self.regions:
            raise ValueError("detector 'static' needs at least one region (x,y,w,h in 0..1)")
        if self.kind == "yolo" and not self.model:
            raise ValueError("detector 'yolo' needs a local model path (weights are never downloaded)")
        if self.kind == "template" and not self.template:
            raise ValueError("detector 'template' needs a template image path")
        return self
