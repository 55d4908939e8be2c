"""Typed pod fields of the VideoJob spec: the Kubernetes core/v1 shapes of Toleration, Affinity and
LocalObjectReference (field names and enums as the Kubernetes OpenAPI has them), and the pod template patch.

Typed, so that the API server refuses a typo (`opertor:`) at admission instead of dropping it; every list and
string is bounded (maxItems/maxLength) so that the CEL rules over them have a bounded cost.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from . import api

_LABEL_KEY = 316  # prefix (253) + '/' + name (63)
_LABEL_VALUE = 63
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _K8s(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    def manifest(self) -> dict[str, Any]:
        """The object as the pod spec takes it (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def _values() -> Any:
    return Field(default=None, max_length=64, json_schema_extra={"items": {"type": "string", "maxLength": 253}})


class Toleration(_K8s):
    key: str | None = Field(default=None, max_length=_LABEL_KEY)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=_LABEL_VALUE)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class LocalObjectReference(_K8s):
    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


class NodeSelectorRequirement(_K8s):
    key: str = Field(max_length=_LABEL_KEY)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = _values()


class NodeSelectorTerm(_K8s):
    match_expressions: list[NodeSelectorRequirement] | None = Field(default=None, max_length=16)
    match_fields: list[NodeSelectorRequirement] | None = Field(default=None, max_length=16)


class NodeSelector(_K8s):
    node_selector_terms: list[NodeSelectorTerm] = Field(max_length=16)


class PreferredSchedulingTerm(_K8s):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(_K8s):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = Field(
        default=None, max_length=16
    )


class LabelSelectorRequirement(_K8s):
    key: str = Field(max_length=_LABEL_KEY)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = _values()


class LabelSelector(_K8s):
    match_labels: dict[str, str] | None = Field(default=None, json_schema_extra={"maxProperties": 32})
    match_expressions: list[LabelSelectorRequirement] | None = Field(default=None, max_length=16)


def _keys() -> Any:
    return Field(default=None, max_length=16, json_schema_extra={"items": {"type": "string", "maxLength": 316}})


class PodAffinityTerm(_K8s):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[str] | None = Field(
        default=None, max_length=16, json_schema_extra={"items": {"type": "string", "maxLength": 63}}
    )
    topology_key: str = Field(min_length=1, max_length=_LABEL_KEY)
    match_label_keys: list[str] | None = _keys()
    mismatch_label_keys: list[str] | None = _keys()


class WeightedPodAffinityTerm(_K8s):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(_K8s):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        default=None, max_length=16
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = Field(
        default=None, max_length=16
    )


class Affinity(_K8s):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


# What the operator sets in every worker pod: a pod template patch may not set or replace it.
RESERVED_ENV = (
    "HOME",
    "YOLO_CONFIG_DIR",
    "YOLO_OFFLINE",
    "PYTHONDONTWRITEBYTECODE",
    "NVIDIA_DRIVER_CAPABILITIES",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
RESERVED_ENV_PREFIX = "VIDEOJOB_"
RESERVED_VOLUMES = ("data", "input", "output", "scratch")
RESERVED_LABEL_PREFIXES = (f"{api.GROUP}/", "app.kubernetes.io/", "batch.kubernetes.io/")
RESERVED_LABELS = ("job-name", "controller-uid")
RESERVED_MOUNT_PREFIX = "/videojob"
RESERVED_MOUNTS = (api.SCRATCH_MOUNT, api.TERMINATION_LOG)


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


class EnvVar(_K8s):
    name: str = Field(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str | None = Field(default=None, max_length=32768)
    # secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef: checked by the API server with the Job.
    value_from: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "!(has(self.value) && has(self.valueFrom))", "message": "give value or valueFrom, not both"}
            ]
        }
    )


class ExtraVolume(BaseModel):
    """A core/v1 Volume (any source: configMap, secret, csi, emptyDir ...), passed through as written; the API
    server checks the source when the operator creates the Job."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    name: str = Field(min_length=1, max_length=63, pattern=_DNS_LABEL)

    def manifest(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class VolumeMount(_K8s):
    name: str = Field(min_length=1, max_length=63, pattern=_DNS_LABEL)
    mount_path: str = Field(min_length=2, max_length=1024, pattern=r"^/")
    read_only: bool | None = None
    sub_path: str | None = Field(default=None, max_length=1024)
    sub_path_expr: str | None = Field(default=None, max_length=1024)


def _no_reserved_env(env: list[EnvVar]) -> str | None:
    for e in env:
        if e.name.startswith(RESERVED_ENV_PREFIX) or e.name in RESERVED_ENV:
            return f"podTemplate.env: {e.name} is set by the operator; choose another name"
    return None


class PodTemplatePatch(_K8s):
    """Merged into every worker pod: labels and annotations on the pod, env and volumeMounts on the worker
    container, volumes on the pod. What the operator itself sets cannot be replaced."""

    labels: dict[str, str] | None = Field(
        default=None,
        json_schema_extra={"maxProperties": 64, "additionalProperties": {"type": "string", "maxLength": 63}},
    )
    annotations: dict[str, str] | None = Field(default=None, json_schema_extra={"maxProperties": 64})
    env: list[EnvVar] | None = Field(default=None, max_length=64)
    volumes: list[ExtraVolume] | None = Field(default=None, max_length=32)
    volume_mounts: list[VolumeMount] | None = Field(default=None, max_length=32)

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!has(self.env) || self.env.all(e, !e.name.startsWith('{RESERVED_ENV_PREFIX}') "
                    f"&& !(e.name in {_cel_list(RESERVED_ENV)}))",
                    "message": f"podTemplate.env: names starting with {RESERVED_ENV_PREFIX} and "
                    f"{', '.join(RESERVED_ENV)} are set by the operator (AWS_*: use spec.objectStore)",
                },
                {
                    "rule": f"!has(self.volumes) || self.volumes.all(v, !(v.name in {_cel_list(RESERVED_VOLUMES)}))",
                    "message": f"podTemplate.volumes: the names {', '.join(RESERVED_VOLUMES)} are the operator's",
                },
                {
                    "rule": "!has(self.labels) || self.labels.all(k, "
                    + " && ".join(f"!k.startsWith('{p}')" for p in RESERVED_LABEL_PREFIXES)
                    + f" && !(k in {_cel_list(RESERVED_LABELS)}))",
                    "message": "podTemplate.labels: keys under "
                    + ", ".join(RESERVED_LABEL_PREFIXES)
                    + " and job-name, controller-uid are set by the operator or the Job controller",
                },
                {
                    "rule": "!has(self.volumeMounts) || self.volumeMounts.all(m, "
                    f"!m.mountPath.startsWith('{RESERVED_MOUNT_PREFIX}') && !(m.mountPath in {_cel_list(RESERVED_MOUNTS)})"
                    f" && (m.name in {_cel_list(RESERVED_VOLUMES)} || "
                    "(has(self.volumes) && self.volumes.exists(v, v.name == m.name))))",
                    "message": f"podTemplate.volumeMounts: each names a volume of podTemplate.volumes and mounts "
                    f"outside {RESERVED_MOUNT_PREFIX}, {', '.join(RESERVED_MOUNTS)} (the operator's mounts)",
                },
            ]
        }
    )

    @model_validator(mode="after")
    def _not_the_operators(self) -> PodTemplatePatch:
        # The same rules as the CEL above, for a spec that reached the operator without them (an older CRD).
        problem = _no_reserved_env(self.env or [])
        for v in self.volumes or []:
            if v.name in RESERVED_VOLUMES:
                problem = problem or f"podTemplate.volumes: {v.name} is the operator's volume; choose another name"
        for k in self.labels or {}:
            if k.startswith(RESERVED_LABEL_PREFIXES) or k in RESERVED_LABELS:
                problem = problem or f"podTemplate.labels: {k} is set by the operator or the Job controller"
        names = {v.name for v in self.volumes or []} | set(RESERVED_VOLUMES)
        for m in self.volume_mounts or []:
            if m.mount_path.startswith(RESERVED_MOUNT_PREFIX) or m.mount_path in RESERVED_MOUNTS:
                problem = problem or f"podTemplate.volumeMounts: {m.mount_path} is the operator's mount"
            elif m.name not in names:
                problem = problem or f"podTemplate.volumeMounts: {m.name} is not a volume of podTemplate.volumes"
        if problem:
            raise ValueError(problem)
        return self
