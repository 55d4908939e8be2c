"""VideoJob status models: what `kubectl get vj -o yaml` shows and what lets a restarted operator resume."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Phase = Literal["Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed"]
PHASES: list[str] = ["Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed"]
TERMINAL = frozenset({"Succeeded", "Failed"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Condition(_Model):
    """metav1.Condition: types Ready, Detected, Processed, Finalized, Suspended, PodsStarted, Complete, Failed."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: str = Field(json_schema_extra={"format": "date-time"})
    observed_generation: int | None = Field(default=None, ge=0)


class SegmentCounts(_Model):
    total: int = Field(default=0, ge=0)
    succeeded: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    active: int = Field(default=0, ge=0)
    # Segment pods that failed and were retried (evictions and preemptions are not counted: no retry is used).
    retries: int = Field(default=0, ge=0)


class FrameCounts(_Model):
    total: int = Field(default=0, ge=0)
    done: int = Field(default=0, ge=0)


class StageSeconds(_Model):
    detect: float | None = Field(default=None, ge=0)
    process: float | None = Field(default=None, ge=0)
    finalize: float | None = Field(default=None, ge=0)


class StageStarts(_Model):
    """When each stage began (RFC 3339): stage seconds survive an operator restart."""

    detect: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    process: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    finalize: str | None = Field(default=None, json_schema_extra={"format": "date-time"})


class Attempts(_Model):
    """Pods of the detect and finalize Jobs that failed and were retried by their Job."""

    detect: int = Field(default=0, ge=0)
    finalize: int = Field(default=0, ge=0)


class VideoInfo(_Model):
    """The detect pod's summary (its termination message): the plan is on the volume, this is its digest."""

    fps: float | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, ge=0)
    height: int | None = Field(default=None, ge=0)
    regions: int | None = Field(default=None, ge=0)


class OutputInfo(_Model):
    path: str | None = Field(default=None, max_length=4096)
    bytes: int | None = Field(default=None, ge=0)
    duration: float | None = Field(default=None, ge=0)


class VideoJobStatus(_Model):
    phase: Phase | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    segments: SegmentCounts | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    frames: FrameCounts | None = None
    start_time: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    completion_time: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    stage_seconds: StageSeconds | None = None
    stage_starts: StageStarts | None = None
    attempts: Attempts | None = None
    video: VideoInfo | None = None
    output: OutputInfo | None = None
    workdir: str | None = Field(default=None, max_length=4096)
    message: str | None = Field(default=None, max_length=32768)
    observed_generation: int | None = Field(default=None, ge=0)
