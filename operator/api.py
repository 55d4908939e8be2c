"""The VideoJob API (videojob.dev/v1alpha1): pydantic models are the single source of the CRD schema.

Field names in snake_case match the pipeline's JobConfig, so `job_config()` hands the worker exactly what
`videojob.pipeline.config.JobConfig` reads; the CRD shows them in camelCase.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP, VERSION, KIND, PLURAL = "videojob.dev", "v1alpha1", "VideoJob", "videojobs"
PHASES = ("Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed")
PATH_PATTERN = r"^[^/]"  # relative; `..` segments are refused by a CEL rule and by the builders


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class VolumePath(Model):
    claim_name: str = Field(min_length=1, max_length=253, description="PersistentVolumeClaim in the job's namespace")
    path: str = Field(min_length=1, max_length=1024, pattern=PATH_PATTERN,
                      description="path inside the volume (relative, no '..')")


class OutputPath(Model):
    claim_name: str | None = Field(default=None, max_length=253, description="defaults to the input's claim")
    path: str = Field(min_length=1, max_length=1024, pattern=PATH_PATTERN)


class Region(Model):
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class DetectorSpec(Model):
    kind: Literal["yolo", "template", "static", "none"] = "none"
    model: str | None = Field(default=None, description="weights path inside the input volume (never downloaded)")
    classes: list[int] = Field(default_factory=lambda: [0])
    confidence: float = Field(default=0.25, ge=0, le=1)
    iou: float = Field(default=0.5, ge=0, le=1)
    imgsz: int = Field(default=640, ge=32, le=4096)
    batch: int = Field(default=8, ge=1, le=256)
    template: str | None = Field(default=None, description="image path inside the input volume")
    template_threshold: float = Field(default=0.8, ge=0, le=1)
    regions: list[Region] = Field(default_factory=list)
    sample_every: int = Field(default=5, ge=1, le=1000)
    hold_frames: int = Field(default=10, ge=0, le=10000)
    padding: float = Field(default=0.1, ge=0, le=2)
    dense: bool = False
    context_frames: int = Field(default=8, ge=0, le=1000)


class OperationSpec(Model):
    kind: Literal["blur", "pixelate", "fill", "inpaint", "none"] = "blur"
    blur_strength: float = Field(default=0.5, gt=0, le=2)
    pixelate_blocks: int = Field(default=8, ge=1, le=256)
    fill_color: list[int] = Field(default_factory=lambda: [0, 0, 0], min_length=3, max_length=3)
    inpaint_method: Literal["telea", "ns"] = "telea"
    inpaint_radius: int = Field(default=5, ge=1, le=100)


class SegmentationSpec(Model):
    segments: int | None = Field(default=None, ge=1, le=10000, description="fixed count; empty = auto")
    min_segments: int = Field(default=1, ge=1, le=10000)
    max_segments: int = Field(default=64, ge=1, le=10000)
    min_frames_per_segment: int = Field(default=24, ge=1)
    target_seconds_per_segment: float = Field(default=60, gt=0)
    scene_snap_window: int = Field(default=12, ge=0)


class EncodeSpec(Model):
    codec: Literal["h264", "hevc"] = "h264"
    encoder: Literal["auto", "nvenc", "software"] = "auto"
    quality: int = Field(default=18, ge=0, le=51)
    preset: str = Field(default="veryfast", max_length=32)
    stage: Literal["segment", "finalize"] = "segment"


class ResourcesSpec(Model):
    gpu_resource_name: str = Field(default="nvidia.com/gpu", max_length=253,
                                   description="extended resource, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb")
    gpus_per_pod: int = Field(default=1, ge=0, le=16)
    cpu: str = Field(default="2", max_length=32)
    memory: str = Field(default="4Gi", max_length=32)


class VideoJobSpec(Model):
    input: VolumePath
    output: OutputPath
    detector: DetectorSpec = Field(default_factory=DetectorSpec)
    operation: OperationSpec = Field(default_factory=OperationSpec)
    segmentation: SegmentationSpec = Field(default_factory=SegmentationSpec)
    encode: EncodeSpec = Field(default_factory=EncodeSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    worker_image: str = Field(default="ghcr.io/videojob/worker:0.1.0", min_length=1, max_length=512)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] | None = None
    priority_class_name: str | None = Field(default=None, max_length=253)
    runtime_class_name: str | None = Field(default=None, max_length=253)
    max_parallel_pods: int = Field(default=8, ge=1, le=1000)
    retries_per_segment: int = Field(default=3, ge=0, le=20)
    suspend: bool = False
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    redis_url_secret: str | None = Field(default=None, description="Secret with key `url` for progress in Redis")

    def job_config(self) -> dict[str, Any]:
        """The worker's JobConfig as JSON-ready data (field names of videojob.pipeline.config)."""
        detector = self.detector.model_dump(by_alias=False)
        if self.detector.kind == "none":
            detector["regions"] = []
        return {
            "detector": detector,
            "operation": {**self.operation.model_dump(by_alias=False), "device": "auto"},
            "segmentation": self.segmentation.model_dump(by_alias=False),
            "encode": self.encode.model_dump(by_alias=False),
        }


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class SegmentCounts(Model):
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    active: int = 0
    summary: str = "0/0"


class VideoJobStatus(Model):
    phase: Literal["Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed"] = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    segments: SegmentCounts = Field(default_factory=SegmentCounts)
    progress: int = Field(default=0, ge=0, le=100)
    frames: dict[str, int] = Field(default_factory=dict)
    start_time: str | None = None
    completion_time: str | None = None
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    observed_generation: int | None = None
    plan: dict[str, Any] = Field(default_factory=dict)
