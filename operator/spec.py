"""VideoJob spec models: the single source of the CRD schema (crdgen.py) and of what the builders read.

Field names mirror videojob.pipeline.config.JobConfig in camelCase (the operator must not import the pipeline;
tests/operator/test_spec.py checks the mirror field by field, defaults included).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonDict

from .podtypes import Affinity, LocalObjectReference, PodTemplatePatch, Toleration

# A path inside a volume: relative, no `..`. Checked by the API server (CEL) and again by the builders.
_RELATIVE_PATH_RULES = [
    {
        "rule": "!self.startsWith('/')",
        "message": "must be a path relative to the volume, not an absolute path",
    },
    {
        "rule": "!self.matches('(^|/)[.][.](/|$)')",
        "message": "must not contain '..': it would escape the volume",
    },
]
_IMMUTABLE = {
    "rule": "self == oldSelf",
    "message": "is immutable once the VideoJob exists; create a new VideoJob",
}
_CLAIM_NAME = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"  # a DNS subdomain
# Extended resource names: nvidia.com/gpu, nvidia.com/mig-1g.10gb, amd.com/gpu ...
_RESOURCE_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"


def _extra(**kw: Any) -> dict[str, Any]:
    return {"json_schema_extra": kw}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


_OBJECT_URL = r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]/[^\s]*[^/\s]$"  # s3://bucket/key (a key, not a prefix)


def _url_field() -> Any:
    return Field(default=None, max_length=1024, pattern=_OBJECT_URL)


class VolumePath(_Model):
    """A file on a claim (claimName + path), or an object (url: s3://bucket/key, see spec.objectStore)."""

    claim_name: str | None = Field(default=None, max_length=253, pattern=_CLAIM_NAME)
    path: str | None = Field(
        default=None, min_length=1, max_length=1024, **_extra(**{"x-kubernetes-validations": _RELATIVE_PATH_RULES})
    )
    url: str | None = _url_field()

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.url) ? !has(self.claimName) && !has(self.path) : has(self.claimName) && has(self.path)",
                    "message": "give either claimName and path (a file on a claim) or url (an object, s3://bucket/key)",
                }
            ]
        }
    )

    def where(self) -> str:
        """How status, events and locks name it: the URL, or `claim:path`."""
        return self.url or f"{self.claim_name}:{self.path}"


class OutputPath(_Model):
    """A file on a claim, or an object (url). The claim (default: the input's) also holds the work directory, so an
    object output still needs one when the input is an object too."""

    # Defaults to the input's claim (resolved by the builders: a CRD default cannot refer to another field).
    claim_name: str | None = Field(default=None, max_length=253, pattern=_CLAIM_NAME)
    path: str | None = Field(
        default=None, min_length=1, max_length=1024, **_extra(**{"x-kubernetes-validations": _RELATIVE_PATH_RULES})
    )
    url: str | None = _url_field()

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.url) != has(self.path)",
                    "message": "give either path (a file on the claim) or url (an object, s3://bucket/key)",
                }
            ]
        }
    )

    def where(self, input_claim: str | None) -> str:
        return self.url or f"{self.claim_name or input_claim}:{self.path}"


class S3CredentialsRef(_Model):
    """A Secret in the VideoJob's namespace with the access key pair; the pods get it through secretKeyRef."""

    name: str = Field(max_length=253, pattern=_CLAIM_NAME)
    access_key_id_key: str = Field(default="AWS_ACCESS_KEY_ID", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    secret_access_key_key: str = Field(default="AWS_SECRET_ACCESS_KEY", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class ObjectStoreSpec(_Model):
    """Where `url` inputs and outputs live. Without credentialsSecretRef the workers use their service account's
    workload identity (EKS IRSA or Pod Identity put the AWS variables in the pods)."""

    # Unset: AWS S3. Any S3-compatible server: http(s)://host[:port].
    endpoint: str | None = Field(default=None, max_length=512, pattern=r"^https?://[^/?#\s]+/?$")
    region: str | None = Field(default=None, max_length=64, pattern=r"^[-a-z0-9]+$")
    credentials_secret_ref: S3CredentialsRef | None = None


class NormRegion(_Model):
    """A rectangle in fractions of the frame. Named left/top/width/height, not the pipeline's x/y/w/h: kubectl's
    YAML 1.1 reads a bare `y:` as the boolean true."""

    left: float = Field(ge=0.0, le=1.0)
    top: float = Field(ge=0.0, le=1.0)
    width: float = Field(gt=0.0, le=1.0)
    height: float = Field(gt=0.0, le=1.0)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.left + self.width <= 1.000000001 && self.top + self.height <= 1.000000001",
                    "message": "region extends past the frame: left+width and top+height must be <= 1",
                },
            ]
        }
    )

    def pipeline(self) -> dict[str, float]:
        return {"x": self.left, "y": self.top, "w": self.width, "h": self.height}


class DetectorSpec(_Model):
    kind: Literal["yolo", "template", "static", "none"] = "static"
    model: str | None = Field(default=None, max_length=1024)  # relative: on the input volume; absolute: in the image
    # COCO class ids (0 = person); empty keeps every class.
    classes: list[int] = Field(
        default_factory=lambda: [0], max_length=128, **_extra(default=[0], items={"type": "integer", "minimum": 0})
    )
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32, le=4096, multiple_of=32)
    batch: int = Field(default=8, ge=1, le=256)
    device: str = Field(default="auto", max_length=32, pattern=r"^(auto|cpu|mps|cuda|cuda:\d+|\d+)$")
    template: str | None = Field(default=None, max_length=1024)
    template_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    template_scales: list[float] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        max_length=16,
        **_extra(default=[1.0], items={"type": "number", "minimum": 0.05, "maximum": 20}),
    )
    # The whole detector for `static`; with yolo or template, processed on every frame besides what it finds.
    regions: list[NormRegion] = Field(default_factory=list, max_length=64, **_extra(default=[]))
    sample_every: int = Field(default=5, ge=1, le=1000)
    hold_frames: int = Field(default=10, ge=0, le=10000)
    padding: float = Field(default=0.1, ge=0.0, le=2.0)
    dense: bool = False
    context_frames: int = Field(default=8, ge=0, le=1000)
    track: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.kind) || self.kind != 'static' || (has(self.regions) && size(self.regions) > 0)",
                    "message": "detector 'static' needs at least one region (left, top, width, height in 0..1)",
                },
                {
                    "rule": "!has(self.kind) || self.kind != 'yolo' || has(self.model)",
                    "message": "detector 'yolo' needs model: a local weights path (never downloaded)",
                },
                {
                    "rule": "!has(self.kind) || self.kind != 'template' || has(self.template)",
                    "message": "detector 'template' needs template: an image path",
                },
            ]
        }
    )


class OperationSpec(_Model):
    kind: Literal["blur", "pixelate", "fill", "inpaint", "none"] = "blur"
    blur_strength: float = Field(default=0.5, gt=0.0, le=2.0)
    pixelate_blocks: int = Field(default=8, ge=1, le=256)
    fill_color: list[int] = Field(
        default_factory=lambda: [0, 0, 0],
        min_length=3,
        max_length=3,
        **_extra(default=[0, 0, 0], items={"type": "integer", "minimum": 0, "maximum": 255}),
    )
    inpaint_method: Literal["telea", "ns"] = "telea"
    inpaint_radius: int = Field(default=5, ge=1, le=100)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: the pod's GPU when it has one
    torchscript: str | None = Field(default=None, max_length=1024)


class SegmentationSpec(_Model):
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
    scene_snap_window: int = Field(default=12, ge=0)
    scene_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    mode: Literal["auto", "pod-per-segment", "pool"] = Field(
        default="auto",
        description="How the segment Job runs: pod-per-segment (one pod per segment, an Indexed Job of one "
        "completion each), pool (min(maxParallelPods, segments) warm pods that load the model once and claim segment "
        "after segment from the work directory), or auto: pool when there are more than 2 x maxParallelPods "
        "segments, where each pod would otherwise pay pod start, imports and model load three times or more.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minSegments) || !has(self.maxSegments) || self.minSegments <= self.maxSegments",
                    "message": "minSegments must be <= maxSegments",
                },
            ]
        }
    )


class EncodeSpec(_Model):
    codec: Literal["h264", "hevc"] = "h264"
    encoder: Literal["auto", "nvenc", "software"] = "auto"
    quality: int = Field(default=18, ge=0, le=51)
    preset: str = Field(default="veryfast", max_length=32)
    stage: Literal["segment", "finalize"] = "segment"
    threads: int = Field(default=0, ge=0, le=64)


class DecodeSpec(_Model):
    # auto: NVDEC when the pod's GPU can decode the stream, software otherwise (the report says which);
    # cuda: NVDEC or the segment fails as bad input; none: software.
    hwaccel: Literal["auto", "cuda", "none"] = "auto"


class EphemeralStorage(_Model):
    """Node-local disk for a stage's pods (container writable layer, logs, the /tmp scratch emptyDir)."""

    request: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)
    limit: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.request) || !has(self.limit) || "
                    "quantity(self.limit).compareTo(quantity(self.request)) >= 0",
                    "message": "ephemeralStorage.limit must be >= ephemeralStorage.request",
                }
            ]
        }
    )


class StageResources(_Model):
    """One stage's requests: unset fields fall back to resources.cpu/memory, then to the stage's default."""

    cpu: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)
    memory: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)
    ephemeral_storage: EphemeralStorage | None = None


# Defaults per stage (cpu request, memory request = limit). CPU is a request only, never a limit: a pod uses the
# node's idle cores, and a request of at most 1 schedules on a 2-CPU node next to the system pods (a request of
# "2" never did). Detect samples frames (light); segments and finalize encode.
STAGE_DEFAULTS = {"detect": ("500m", "4Gi"), "segments": ("1", "4Gi"), "finalize": ("1", "4Gi")}


class ResourcesSpec(_Model):
    gpu_resource_name: str = Field(default="nvidia.com/gpu", max_length=253, pattern=_RESOURCE_NAME)
    gpus_per_pod: int = Field(default=1, ge=0, le=16)  # 0 runs on CPU (software encoding)
    # Every stage's cpu request and memory (request and limit), unless the stage sets its own. Unset: the stage
    # defaults (detect 500m, segments 1, finalize 1; 4Gi each).
    cpu: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)
    memory: str | None = Field(default=None, max_length=32, pattern=_QUANTITY)
    detect: StageResources = Field(default_factory=StageResources, **_extra(default={}))
    segments: StageResources = Field(default_factory=StageResources, **_extra(default={}))
    finalize: StageResources = Field(default_factory=StageResources, **_extra(default={}))

    def stage(self, stage: str) -> tuple[str, str, EphemeralStorage | None]:
        """cpu, memory and ephemeral storage of one stage's pods (detect|segments|finalize)."""
        own: StageResources = getattr(self, stage)
        cpu, memory = STAGE_DEFAULTS[stage]
        return own.cpu or self.cpu or cpu, own.memory or self.memory or memory, own.ephemeral_storage


class DeadlinesSpec(_Model):
    """How long a stage may take before it is stopped (on by default: nothing waits for ever without a reason).

    The stage deadlines are each pod's activeDeadlineSeconds (one attempt; the Job retries a segment that
    overran, like any other failure); `pendingSeconds` ends the VideoJob when a pod cannot start (no node fits,
    a missing claim or Secret, an image that cannot be pulled) for that long."""

    pending_seconds: int = Field(default=600, ge=1, le=604800)
    detect_seconds: int = Field(default=3600, ge=1, le=604800)
    segment_seconds: int = Field(default=21600, ge=1, le=604800)
    finalize_seconds: int = Field(default=21600, ge=1, le=604800)


class SecretKeyRef(_Model):
    """A key of a Secret in the VideoJob's namespace."""

    name: str = Field(max_length=253, pattern=_CLAIM_NAME)
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class RedisSpec(_Model):
    """Where segment pods report progress. The URL may carry a password, so it is never written in the spec (where
    `kubectl apply` would copy it into an annotation anyone who may read VideoJobs sees): segment pods read it with
    a secretKeyRef, and the operator reads the Secret to reach the same Redis."""

    url_secret_ref: SecretKeyRef


def _set_once(field: str) -> JsonDict:
    """A transition rule: an optional immutable field can be neither added nor removed after creation (a
    field-level `self == oldSelf` only runs when both sides have the field)."""
    return {
        "rule": f"has(self.{field}) == has(oldSelf.{field})",
        "message": f"{field} is immutable once the VideoJob exists; create a new VideoJob",
    }


def _needs_gpu(section: str, field: str, value: str) -> JsonDict:
    """A CEL rule: `section.field: value` only with a GPU in the pod."""
    return {
        "rule": f"!has(self.{section}) || !has(self.{section}.{field}) || self.{section}.{field} != '{value}' "
        "|| (has(self.resources) && has(self.resources.gpusPerPod) && self.resources.gpusPerPod > 0)",
        "message": f"{section}.{field} '{value}' needs a GPU: set resources.gpusPerPod >= 1 or {field} 'auto'",
    }


class VideoJobSpec(_Model):
    input: VolumePath = Field(**_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    output: OutputPath = Field(**_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    # No detector given: no regions (like JobConfig); `detector: {}` gets the field defaults (static).
    detector: DetectorSpec = Field(
        default_factory=lambda: DetectorSpec(kind="none"),
        **_extra(default={"kind": "none"}, **{"x-kubernetes-validations": [_IMMUTABLE]}),
    )
    operation: OperationSpec = Field(
        default_factory=OperationSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    segmentation: SegmentationSpec = Field(
        default_factory=SegmentationSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    encode: EncodeSpec = Field(
        default_factory=EncodeSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    decode: DecodeSpec = Field(
        default_factory=DecodeSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    # Unset: the operator's VIDEOJOB_WORKER_IMAGE.
    # Fixed once the VideoJob exists, like the pod template of a Job: a change could reach only the children not
    # created yet, and observedGeneration would claim a spec that the running pods do not have.
    worker_image: str | None = Field(
        default=None, max_length=512, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    node_selector: dict[str, str] | None = Field(default=None, **_extra(maxProperties=64))
    tolerations: list[Toleration] | None = Field(default=None, max_length=64)
    affinity: Affinity | None = None
    # Secrets to pull the worker image from a private registry.
    image_pull_secrets: list[LocalObjectReference] | None = Field(default=None, max_length=16)
    # Labels, annotations, env, volumes and volume mounts merged into every worker pod.
    pod_template: PodTemplatePatch | None = Field(default=None, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    # The workers' ServiceAccount (unset: the namespace's `default`), e.g. one bound to a cloud role for workload
    # identity to the object store (EKS IRSA and Pod Identity, GKE Workload Identity). Its API token stays out of
    # the pods (automountServiceAccountToken false): the workers never call the API server, and IRSA projects its
    # own token. Set automountServiceAccountToken only when the image needs the API token itself.
    service_account_name: str | None = Field(
        default=None, max_length=253, pattern=_CLAIM_NAME, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    automount_service_account_token: bool = Field(default=False, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    priority_class_name: str | None = Field(
        default=None, max_length=253, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    runtime_class_name: str | None = Field(
        default=None, max_length=253, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    # Mutable: a change is patched onto the running segment Job's parallelism.
    max_parallel_pods: int = Field(default=8, ge=1, le=10000)
    retries_per_segment: int = Field(default=3, ge=0, le=100, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    suspend: bool = False
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    # The whole VideoJob, from its start: past it, the job fails with reason DeadlineExceeded (like a Job's).
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    deadlines: DeadlinesSpec = Field(
        default_factory=DeadlinesSpec, **_extra(default={}, **{"x-kubernetes-validations": [_IMMUTABLE]})
    )
    # s3:// inputs and outputs: endpoint, region, credentials (input.url, output.url).
    object_store: ObjectStoreSpec | None = Field(default=None, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    # Unset: the operator's VIDEOJOB_REDIS_URL (progress is optional; the job never depends on Redis).
    redis: RedisSpec | None = Field(default=None, **_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    # The work directory (status.workdir) stays after the job ends: for a look at the segments, or to resume a
    # failed job with another VideoJob. Unset, it is removed after success and after failure.
    keep_workdir: bool = False

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.input.claimName) || has(self.output.claimName)",
                    "message": "the work directory needs a claim: set output.claimName when the input is an object url",
                },
                _needs_gpu("decode", "hwaccel", "cuda"),
                _needs_gpu("encode", "encoder", "nvenc"),
                *(
                    _set_once(f)
                    for f in (
                        "workerImage",
                        "priorityClassName",
                        "runtimeClassName",
                        "podTemplate",
                        "serviceAccountName",
                    )
                ),
            ]
        }
    )

    def pipeline_config(self) -> dict[str, Any]:
        """The worker's VIDEOJOB_CONFIG: JobConfig's snake_case field names, unset optionals left out."""
        return {
            "detector": {
                **self.detector.model_dump(exclude_none=True),
                "regions": [r.pipeline() for r in self.detector.regions],
            },
            "operation": self.operation.model_dump(exclude_none=True),
            "segmentation": self.segmentation.model_dump(exclude_none=True),
            "encode": self.encode.model_dump(exclude_none=True),
            "decode": self.decode.model_dump(exclude_none=True),
        }


# Fields whose change after creation the API server refuses (see the CEL rules above). The rest only affects
# children not yet created, except `suspend` (mirrored onto the Indexed Job) and `ttlSecondsAfterFinished`.
IMMUTABLE_FIELDS = [
    "input",
    "output",
    "detector",
    "operation",
    "segmentation",
    "encode",
    "decode",
    "resources",
    "workerImage",
    "imagePullPolicy",
    "priorityClassName",
    "runtimeClassName",
    "retriesPerSegment",
    "deadlines",
    "podTemplate",
    "serviceAccountName",
    "automountServiceAccountToken",
]
