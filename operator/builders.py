"""Pure functions from a VideoJob to the manifests of its children. No API calls here: they are unit-tested."""

from __future__ import annotations

import json
from typing import Any

from .api import VideoJobSpec
from .naming import DATA_MOUNT, OUTPUT_MOUNT, child_name, safe_join, workdir_path

WORKER_UID = 10001
TERMINATION_LOG = "/dev/termination-log"
EXIT_BAD_INPUT = 2
LABEL_JOB = "videojob.dev/job"
LABEL_STAGE = "videojob.dev/stage"


class Paths:
    """Where input, output and the work directory are inside the worker containers."""

    def __init__(self, spec: VideoJobSpec, namespace: str, name: str, uid: str) -> None:
        self.same_claim = spec.output.claim_name in (None, spec.input.claim_name)
        self.output_claim = spec.output.claim_name or spec.input.claim_name
        out_mount = DATA_MOUNT if self.same_claim else OUTPUT_MOUNT
        self.input = safe_join(DATA_MOUNT, spec.input.path)
        self.output = safe_join(out_mount, spec.output.path)
        # The work directory sits on the output volume: segments are as large as the output.
        self.workdir = safe_join(out_mount, workdir_path(namespace, name, uid))
        self.output_mount = out_mount


def labels(name: str, stage: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "videojob-worker",
        "app.kubernetes.io/managed-by": "videojob-operator",
        "app.kubernetes.io/component": stage,
        LABEL_JOB: name,
        LABEL_STAGE: stage,
    }


def _env(
    spec: VideoJobSpec, paths: Paths, namespace: str, name: str, stage: str, config: dict[str, Any]
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "VIDEOJOB_INPUT", "value": paths.input},
        {"name": "VIDEOJOB_WORKDIR", "value": paths.workdir},
        {"name": "VIDEOJOB_CONFIG", "value": json.dumps(config, separators=(",", ":"))},
        {"name": "VIDEOJOB_TERMINATION_LOG", "value": TERMINATION_LOG},
        {"name": "VIDEOJOB_JOB_KEY", "value": f"{namespace}/{name}"},
        {"name": "YOLO_OFFLINE", "value": "1"},
        {"name": "YOLO_CONFIG_DIR", "value": "/tmp/ultralytics"},
        {"name": "HOME", "value": "/tmp"},
    ]
    if stage == "finalize":
        env.append({"name": "VIDEOJOB_OUTPUT", "value": paths.output})
    if stage == "segments":
        env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}})
    if spec.redis_url_secret:
        env.append({"name": "VIDEOJOB_REDIS_URL",
                    "valueFrom": {"secretKeyRef": {"name": spec.redis_url_secret, "key": "url", "optional": True}}})
    return env


def _model_paths(spec: VideoJobSpec) -> dict[str, str]:
    """Detector files named in the spec live on the input volume, like the video."""
    out = {}
    if spec.detector.model:
        out["model"] = safe_join(DATA_MOUNT, spec.detector.model)
    if spec.detector.template:
        out["template"] = safe_join(DATA_MOUNT, spec.detector.template)
    return out


def pod_spec(spec: VideoJobSpec, namespace: str, name: str, uid: str, stage: str, gpus: int) -> dict[str, Any]:
    paths = Paths(spec, namespace, name, uid)
    config = spec.job_config()
    config["detector"].update(_model_paths(spec))
    env = _env(spec, paths, namespace, name, stage, config)
    resources: dict[str, Any] = {"requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory},
                                 "limits": {"memory": spec.resources.memory}}
    if gpus:
        # Extended resources are requested through limits (requests must equal them); MIG names work the same way.
        resources["limits"][spec.resources.gpu_resource_name] = str(gpus)
        resources["requests"][spec.resources.gpu_resource_name] = str(gpus)
    mounts = [{"name": "data", "mountPath": DATA_MOUNT}, {"name": "scratch", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": spec.input.claim_name}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}},
    ]
    if not paths.same_claim:
        mounts.append({"name": "output", "mountPath": OUTPUT_MOUNT})
        volumes.append({"name": "output", "persistentVolumeClaim": {"claimName": paths.output_claim}})
    container = {
        "name": "worker",
        "image": spec.worker_image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python", "-m", "videojob.worker", "segment" if stage == "segments" else stage],
        "env": env,
        "resources": resources,
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # workers never talk to the API server
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    for key, value in (("nodeSelector", spec.node_selector), ("tolerations", spec.tolerations),
                       ("affinity", spec.affinity), ("priorityClassName", spec.priority_class_name),
                       ("runtimeClassName", spec.runtime_class_name)):
        if value:
            pod[key] = value
    return pod


def _meta(name: str, namespace: str, job: str, stage: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(job, stage)}


def detect_gpus(spec: VideoJobSpec) -> int:
    return spec.resources.gpus_per_pod if spec.detector.kind == "yolo" else 0


def build_detect_pod(spec: VideoJobSpec, namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(child_name(name, "detect"), namespace, name, "detect"),
            "spec": pod_spec(spec, namespace, name, uid, "detect", detect_gpus(spec))}


def build_segment_job(spec: VideoJobSpec, namespace: str, name: str, uid: str, segments: int) -> dict[str, Any]:
    if segments < 1:
        raise ValueError("a segment Job needs at least one segment")
    template = {"metadata": {"labels": labels(name, "segments")},
                "spec": pod_spec(spec, namespace, name, uid, "segments", spec.resources.gpus_per_pod)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(child_name(name, "segments"), namespace, name, "segments"),
        "spec": {
            "completionMode": "Indexed",
            "completions": segments,
            "parallelism": min(segments, spec.max_parallel_pods),
            "backoffLimitPerIndex": spec.retries_per_segment,
            "maxFailedIndexes": 0,  # one segment that cannot be made fails the whole video
            "podReplacementPolicy": "Failed",
            "suspend": spec.suspend,
            "podFailurePolicy": {"rules": [
                # preemption, eviction, node drain: not the segment's fault, not a retry
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                # the worker says the input is bad: retrying cannot help
                {"action": "FailIndex",
                 "onExitCodes": {"containerName": "worker", "operator": "In", "values": [EXIT_BAD_INPUT]}},
            ]},
            "template": template,
        },
    }


def build_finalize_pod(spec: VideoJobSpec, namespace: str, name: str, uid: str) -> dict[str, Any]:
    gpus = spec.resources.gpus_per_pod if spec.encode.stage == "finalize" else 0
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(child_name(name, "finalize"), namespace, name, "finalize"),
            "spec": pod_spec(spec, namespace, name, uid, "finalize", gpus)}
