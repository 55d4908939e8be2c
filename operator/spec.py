"""VideoJob spec models: the single source of the CRD schema (crdgen.py) and of what the builders read.

The job itself (detector, operation, segmentation, encode, decode) is videojob.common.jobmodel.JobConfig, the model
the pipeline and the CLIs validate too: the CRD spells it in camelCase (its alias generator), the workers get it by
field name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonDict
from videojob.common.jobmodel import JOB_SECTIONS, JobConfig

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
_IMMUTABLE: JsonDict = {
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


def _job_sections_immutable(schema: JsonDict) -> None:
    """The job sections (JobConfig's fields) are immutable, like the rest of what the pods were made from."""
    props = schema["properties"]
    assert isinstance(props, dict)
    for name in JOB_SECTIONS:
        section = props[to_camel(name)]
        assert isinstance(section, dict)
        section["x-kubernetes-validations"] = [_IMMUTABLE]
    schema["x-kubernetes-validations"] = [
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


class VideoJobSpec(JobConfig):
    """The job (detector, operation, segmentation, encode, decode: videojob.common.jobmodel.JobConfig, the model
    the workers validate too) plus where its files are and how its pods run."""

    model_config = ConfigDict(json_schema_extra=_job_sections_immutable)

    input: VolumePath = Field(**_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
    output: OutputPath = Field(**_extra(**{"x-kubernetes-validations": [_IMMUTABLE]}))
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

    def pipeline_config(self) -> dict[str, Any]:
        """The worker's VIDEOJOB_CONFIG: the JobConfig part, by field name (snake_case)."""
        return self.worker_config()


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
