"""Detector settings: one pydantic model shared by the CLI, the worker and (by field name) the CRD."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    classes: list[int] = Field(default_factory=lambda: [0])
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32, le=4096)
    batch: int = Field(default=8, ge=1, le=256)
    device: str = "auto"
    # template
    template: str | None = None
    template_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    # static
    regions: list[NormRegion] = Field(default_factory=list)
    # temporal handling
    sample_every: int = Field(default=5, ge=1, le=1000)
    hold_frames: int = Field(default=10, ge=0, le=10000)
    padding: float = Field(default=0.1, ge=0.0, le=2.0)
    dense: bool = False
    context_frames: int = Field(default=8, ge=0, le=1000)
    track: bool = True

    @model_validator(mode="after")
    def _required_per_kind(self) -> DetectorConfig:
        if self.kind == "static" and not self.regions:
            raise ValueError("detector 'static' needs at least one region (x,y,w,h in 0..1)")
        if self.kind == "yolo" and not self.model:
            raise ValueError("detector 'yolo' needs a local model path (weights are never downloaded)")
        if self.kind == "template" and not self.template:
            raise ValueError("detector 'template' needs a template image path")
        return self
