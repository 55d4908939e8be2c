"""The job model: detector, operation, segmentation, encode and decode settings, defined once.

Every layer reads it: the pipeline validates its JobConfig (VIDEOJOB_CONFIG, snake_case field names) with it, the
operator renders the CRD from it (camelCase, from the alias generator; bounds, defaults and CEL rules in the
schema extras) and hands the workers `JobConfig.model_dump()`, and both CLIs check their options against it.
`populate_by_name` makes one model read both spellings.

Checks that the CRD expresses as schema (a pattern, multipleOf, item bounds) live in json_schema_extra, and the
same check as a validator with a message that says what to write: pydantic's own message would come first.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic.alias_generators import to_camel

# What torch accepts as a device string, plus "auto" (CUDA when present, else CPU).
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda|cuda:\d+|\d+)$")


def _extra(**kw: Any) -> dict[str, Any]:
    return {"json_schema_extra": kw}


def _rules(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


def _config(*rules: tuple[str, str]) -> ConfigDict:
    return ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_extra=_rules(*rules) if rules else None,
    )


class NormRegion(BaseModel):
    """A rectangle in fractions of the frame. The CRD names it left/top/width/height, not x/y/w/h: kubectl's
    YAML 1.1 reads a bare `y:` as the boolean true."""

    # Written out (not _config()): pydantic's mypy plugin reads populate_by_name only from a literal ConfigDict.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra=_rules(
            (
                "self.left + self.width <= 1.000000001 && self.top + self.height <= 1.000000001",
                "region extends past the frame: left+width and top+height must be <= 1",
            )
        ),
    )

    x: float = Field(ge=0.0, le=1.0, alias="left")
    y: float = Field(ge=0.0, le=1.0, alias="top")
    w: float = Field(gt=0.0, le=1.0, alias="width")
    h: float = Field(gt=0.0, le=1.0, alias="height")

    @model_validator(mode="after")
    def _inside_frame(self) -> NormRegion:
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise ValueError(
                f"region extends past the frame: x+w and y+h must be <= 1 (got {self.x},{self.y},{self.w},{self.h})"
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
    model_config = _config(
        (
            "!has(self.kind) || self.kind != 'static' || (has(self.regions) && size(self.regions) > 0)",
            "detector 'static' needs at least one region (left, top, width, height in 0..1)",
        ),
        (
            "!has(self.kind) || self.kind != 'yolo' || has(self.model)",
            "detector 'yolo' needs model: a local weights path (never downloaded)",
        ),
        (
            "!has(self.kind) || self.kind != 'template' || has(self.template)",
            "detector 'template' needs template: an image path",
        ),
    )

    kind: Literal["yolo", "template", "static", "none"] = "static"
    # yolo. Relative: on the input volume (the operator resolves it); absolute: in the worker image.
    model: str | None = Field(default=None, max_length=1024)
    # COCO class ids to keep (0 = person); an empty list keeps every class the model knows.
    classes: list[int] = Field(
        default_factory=lambda: [0], max_length=128, **_extra(default=[0], items={"type": "integer", "minimum": 0})
    )
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32, le=4096, **_extra(multipleOf=32))
    batch: int = Field(default=8, ge=1, le=256)
    device: str = Field(default="auto", max_length=32, **_extra(pattern=DEVICE_RE.pattern))
    # template
    template: str | None = Field(default=None, max_length=1024)
    template_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    # Sizes of the template to look for, relative to the image file (e.g. [0.8, 1.0, 1.25] for a rescaled logo).
    template_scales: list[float] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        max_length=16,
        **_extra(default=[1.0], items={"type": "number", "minimum": 0.05, "maximum": 20}),
    )
    # Fixed regions: the whole detector for `static`; with yolo or template, processed on every frame besides
    # what the detector finds (e.g. a burned-in timestamp next to detected faces).
    regions: list[NormRegion] = Field(default_factory=list, max_length=64, **_extra(default=[]))
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


# RGB; a tuple in Python, a bounded list of three in the CRD (a structural schema has no prefixItems).
Rgb = Annotated[
    tuple[int, int, int],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 255},
            "minItems": 3,
            "maxItems": 3,
        }
    ),
]


class OperationConfig(BaseModel):
    model_config = _config()

    kind: Literal["blur", "pixelate", "fill", "inpaint", "none"] = "blur"
    # Blur kernel as a fraction of the region's smaller side (odd kernel, at least 3 px).
    blur_strength: float = Field(default=0.5, gt=0.0, le=2.0)
    # Pixelate: blocks across the region's smaller side.
    pixelate_blocks: int = Field(default=8, ge=1, le=256)
    fill_color: Rgb = Field(default=(0, 0, 0), **_extra(default=[0, 0, 0]))
    inpaint_method: Literal["telea", "ns"] = "telea"
    inpaint_radius: int = Field(default=5, ge=1, le=100)
    # Where region operations run: auto = batched torch on the GPU when there is one, OpenCV on the CPU otherwise.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torchscript: str | None = Field(default=None, max_length=1024)

    @field_validator("fill_color")
    @classmethod
    def _rgb(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 255 for c in v):
            raise ValueError(f"fill_color {list(v)} must be three values in 0..255 (R, G, B)")
        return v


class SegmentationConfig(BaseModel):
    model_config = _config(
        (
            "!has(self.minSegments) || !has(self.maxSegments) || self.minSegments <= self.maxSegments",
            "minSegments must be <= maxSegments",
        )
    )

    segments: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Exactly this many segments (unset: planned from the video). Never lowered silently: the "
        "VideoJob fails after planning when the input has fewer than segments x minFramesPerSegment frames.",
    )
    min_segments: int = Field(default=1, ge=1, le=10000)
    max_segments: int = Field(default=64, ge=1, le=10000)
    min_frames_per_segment: int = Field(default=24, ge=1)
    target_seconds_per_segment: float = Field(default=60.0, gt=0)
    scene_snap_window: int = Field(default=12, ge=0)  # frames either side of a cut point
    scene_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    # The operator's (how it runs the segment pods); the pipeline plans the same segments either way.
    mode: Literal["auto", "pod-per-segment", "pool"] = Field(
        default="auto",
        description="How the segment Job runs: pod-per-segment (one pod per segment, an Indexed Job of one "
        "completion each), pool (min(maxParallelPods, segments) warm pods that load the model once and claim segment "
        "after segment from the work directory), or auto: pool when there are more than 2 x maxParallelPods "
        "segments, where each pod would otherwise pay pod start, imports and model load three times or more.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SegmentationConfig:
        if self.min_segments > self.max_segments:
            raise ValueError(f"min_segments {self.min_segments} is greater than max_segments {self.max_segments}")
        return self


class EncodeConfig(BaseModel):
    model_config = _config()

    codec: Literal["h264", "hevc"] = "h264"
    encoder: Literal["auto", "nvenc", "software"] = "auto"
    quality: int = Field(default=18, ge=0, le=51)  # CRF (software) or CQ (NVENC)
    preset: str = Field(default="veryfast", max_length=32)
    stage: Literal["segment", "finalize"] = "segment"
    threads: int = Field(default=0, ge=0, le=64)  # 0 = let the encoder decide


class DecodeConfig(BaseModel):
    model_config = _config()

    # Segment decoding. auto: NVDEC (FFmpeg's CUDA hwaccel) when a CUDA device can be opened for the stream's
    # codec, software otherwise (the report says why); cuda: NVDEC or a one-line error; none: software.
    hwaccel: Literal["auto", "cuda", "none"] = "auto"


class JobConfig(BaseModel):
    """Everything a job needs besides its input and output: the worker's VIDEOJOB_CONFIG (model_dump(), snake_case)
    and the like-named fields of the VideoJob spec."""

    model_config = _config()

    # No detector given: no regions; `detector: {}` gets the field defaults (static).
    detector: DetectorConfig = Field(
        default_factory=lambda: DetectorConfig(kind="none"), **_extra(default={"kind": "none"})
    )
    operation: OperationConfig = Field(default_factory=OperationConfig, **_extra(default={}))
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig, **_extra(default={}))
    encode: EncodeConfig = Field(default_factory=EncodeConfig, **_extra(default={}))
    decode: DecodeConfig = Field(default_factory=DecodeConfig, **_extra(default={}))

    def worker_config(self) -> dict[str, Any]:
        """The worker's VIDEOJOB_CONFIG: field names (snake_case), unset optionals left out."""
        # Only the job's own sections: a subclass (the VideoJob spec) adds where and how to run it.
        return self.model_dump(include=set(JOB_SECTIONS), exclude_none=True)


JOB_SECTIONS = tuple(JobConfig.model_fields)
