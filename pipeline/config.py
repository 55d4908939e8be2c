"""JobConfig: everything a job needs besides its input and output paths. JSON in env VIDEOJOB_CONFIG."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .detect.config import DetectorConfig, NormRegion


class OperationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["blur", "pixelate", "fill", "inpaint", "none"] = "blur"
    # Blur kernel as a fraction of the region's smaller side (odd kernel, at least 3 px).
    blur_strength: float = Field(default=0.5, gt=0.0, le=2.0)
    # Pixelate: blocks across the region's smaller side.
    pixelate_blocks: int = Field(default=8, ge=1, le=256)
    fill_color: tuple[int, int, int] = (0, 0, 0)  # RGB
    inpaint_method: Literal["telea", "ns"] = "telea"
    inpaint_radius: int = Field(default=5, ge=1, le=100)
    # Where region operations run: auto = batched torch on the GPU when there is one, OpenCV on the CPU otherwise.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torchscript: str | None = None


class SegmentationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: int | None = Field(default=None, ge=1, le=10000)  # None = auto
    min_segments: int = Field(default=1, ge=1, le=10000)
    max_segments: int = Field(default=64, ge=1, le=10000)
    min_frames_per_segment: int = Field(default=24, ge=1)
    target_seconds_per_segment: float = Field(default=60.0, gt=0)
    scene_snap_window: int = Field(default=12, ge=0)  # frames either side of a cut point
    scene_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    # How the operator runs the segments (one pod each, or warm pool workers claiming them); no pixel depends on it
    # and the local runner is a pool of processes whatever it says.
    mode: Literal["auto", "pod-per-segment", "pool"] = "auto"

    @model_validator(mode="after")
    def _ordered(self) -> SegmentationConfig:
        if self.min_segments > self.max_segments:
            raise ValueError(f"min_segments {self.min_segments} is greater than max_segments {self.max_segments}")
        return self


class EncodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codec: Literal["h264", "hevc"] = "h264"
    encoder: Literal["auto", "nvenc", "software"] = "auto"
    quality: int = Field(default=18, ge=0, le=51)  # CRF (software) or CQ (NVENC)
    preset: str = "veryfast"
    stage: Literal["segment", "finalize"] = "segment"
    threads: int = Field(default=0, ge=0, le=64)  # 0 = let the encoder decide


class DecodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Segment decoding. auto: NVDEC (FFmpeg's CUDA hwaccel) when a CUDA device can be opened for the stream's
    # codec, software otherwise (the report says why); cuda: NVDEC or a one-line error; none: software.
    hwaccel: Literal["auto", "cuda", "none"] = "auto"


class JobConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = Field(default_factory=lambda: DetectorConfig(kind="none"))
    operation: OperationConfig = Field(default_factory=OperationConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    encode: EncodeConfig = Field(default_factory=EncodeConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)


__all__ = [
    "DecodeConfig",
    "DetectorConfig",
    "EncodeConfig",
    "JobConfig",
    "NormRegion",
    "OperationConfig",
    "SegmentationConfig",
]
