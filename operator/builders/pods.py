"""The pod template every stage shares: a `worker` container, restricted security, claims, /tmp scratch."""

from __future__ import annotations

from typing import Any

from .. import api
from ..naming import labels, secret_name
from .context import ChildContext

RUN_AS = 10001
SCRATCH_LIMIT = "4Gi"


def security_context() -> dict[str, Any]:
    """Container side of the `restricted` Pod Security Standard, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,  # the claims must be writable by the worker's group
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def redis_url_env(ctx: ChildContext) -> dict[str, Any]:
    """VIDEOJOB_REDIS_URL from a Secret, never as a plain value: anyone who may read pods in the namespace would see
    a password in it. The user's Secret (spec.redis.urlSecretRef), else the VideoJob's own one that holds the
    operator's default URL (build_progress_secret). Optional: Redis is never load-bearing, so a missing Secret
    costs the progress, not the segment."""
    name, key = ctx.redis_secret or (secret_name(ctx.name), api.REDIS_URL_KEY)
    ref = {"name": name, "key": key, "optional": True}
    return {"name": "VIDEOJOB_REDIS_URL", "valueFrom": {"secretKeyRef": ref}}


def object_store_env(ctx: ChildContext) -> list[dict[str, Any]]:
    """The standard AWS variables the worker's S3 client reads (spec.objectStore): endpoint and region as values,
    the key pair only through secretKeyRef, never in the pod spec. Without a Secret the pod's own identity (EKS
    IRSA / Pod Identity inject theirs through the service account)."""
    store = ctx.spec.object_store
    if store is None:
        return []
    values = {"AWS_ENDPOINT_URL": store.endpoint, "AWS_REGION": store.region}
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items() if v]
    ref = store.credentials_secret_ref
    if ref is not None:
        for name, key in (
            ("AWS_ACCESS_KEY_ID", ref.access_key_id_key),
            ("AWS_SECRET_ACCESS_KEY", ref.secret_access_key_key),
        ):
            env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}})
    return env


def _env(ctx: ChildContext, extra: dict[str, str], gpus: int, stage: str) -> list[dict[str, Any]]:
    values = {
        "VIDEOJOB_INPUT": ctx.input_path,
        "VIDEOJOB_WORKDIR": ctx.workdir,
        "VIDEOJOB_CONFIG": ctx.config_json(),
        "VIDEOJOB_TERMINATION_LOG": api.TERMINATION_LOG,
        "VIDEOJOB_JOB_KEY": ctx.job_key,
        # The mounts the paths above must stay inside once symbolic links on the volumes are resolved.
        "VIDEOJOB_INPUT_VOLUME": ctx.volumes[0].mount,
        "VIDEOJOB_OUTPUT_VOLUME": ctx.volumes[-1].mount,
        **extra,
        # Read-only root: every cache goes to the scratch emptyDir; models are never downloaded.
        "HOME": api.SCRATCH_MOUNT,
        "YOLO_CONFIG_DIR": f"{api.SCRATCH_MOUNT}/ultralytics",
        "YOLO_OFFLINE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if gpus:
        # NVENC/NVDEC need the `video` driver capability, which the NVIDIA runtime leaves out by default.
        values["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility,video"
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items()]
    env += object_store_env(ctx)
    if ctx.reports_progress and stage == "segments":  # only segment workers report progress and heartbeats
        env.append(redis_url_env(ctx))
    return env


def _resources(ctx: ChildContext, gpus: int, stage: str) -> dict[str, Any]:
    res = ctx.spec.resources
    cpu, memory, disk = res.stage(stage)
    # CPU is requested, never limited (a limit throttles an encoder that could use idle cores); memory alike.
    requests: dict[str, Any] = {"cpu": cpu, "memory": memory}
    limits: dict[str, Any] = {"memory": memory}
    if disk is not None:
        if disk.request:
            requests["ephemeral-storage"] = disk.request
        if disk.limit:
            limits["ephemeral-storage"] = disk.limit
    if gpus:
        # Extended resources must be requested and limited alike; MIG slices are just other resource names.
        requests[res.gpu_resource_name] = str(gpus)
        limits[res.gpu_resource_name] = str(gpus)
    return {"requests": requests, "limits": limits}


def pod_template(
    ctx: ChildContext,
    stage: str,
    *,
    env: dict[str, str] | None = None,
    gpus: int = 0,
    template_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """metadata + spec of a worker pod for `stage` (detect|segments|finalize)."""
    spec = ctx.spec
    command_stage = {"segments": "segment"}.get(stage, stage)
    mounts = [{"name": v.name, "mountPath": v.mount, "readOnly": v.read_only} for v in ctx.volumes]
    mounts.append({"name": "scratch", "mountPath": api.SCRATCH_MOUNT})
    volumes: list[dict[str, Any]] = [
        {"name": v.name, "persistentVolumeClaim": {"claimName": v.claim, "readOnly": v.read_only}} for v in ctx.volumes
    ]
    volumes.append({"name": "scratch", "emptyDir": {"sizeLimit": SCRATCH_LIMIT}})
    container = {
        "name": api.WORKER_CONTAINER,
        "image": ctx.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python", "-m", "videojob.worker", command_stage],
        "env": _env(ctx, env or {}, gpus, stage),
        "resources": _resources(ctx, gpus, stage),
        "volumeMounts": mounts,
        "securityContext": security_context(),
        "terminationMessagePath": api.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    deadlines = spec.deadlines
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # One attempt's deadline: the kubelet stops the pod and its Job retries it like any other failure.
        "activeDeadlineSeconds": {
            "detect": deadlines.detect_seconds,
            "segments": deadlines.segment_seconds,
            "finalize": deadlines.finalize_seconds,
        }[stage],
        "automountServiceAccountToken": False,  # workers never talk to the API server
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    optional = {
        "nodeSelector": spec.node_selector,
        "tolerations": [t.manifest() for t in spec.tolerations or []],
        "affinity": spec.affinity.manifest() if spec.affinity else None,
        "priorityClassName": spec.priority_class_name,
        "runtimeClassName": spec.runtime_class_name,
        "imagePullSecrets": [s.manifest() for s in spec.image_pull_secrets or []],
        "serviceAccountName": spec.service_account_name,
    }
    pod_spec.update({k: v for k, v in optional.items() if v})
    if spec.automount_service_account_token:
        pod_spec["automountServiceAccountToken"] = True
    metadata: dict[str, Any] = {"labels": template_labels or labels(ctx.name, stage)}
    _patch(metadata, pod_spec, container, ctx)
    return {"metadata": metadata, "spec": pod_spec}


def _patch(metadata: dict[str, Any], pod_spec: dict[str, Any], container: dict[str, Any], ctx: ChildContext) -> None:
    """spec.podTemplate merged in: added to what the operator sets, never replacing it (the model and the CRD's
    CEL rules refuse the operator's env names, volume names, label keys and mounts)."""
    patch = ctx.spec.pod_template
    if patch is None:
        return
    metadata["labels"] = {**(patch.labels or {}), **metadata["labels"]}
    if patch.annotations:
        metadata["annotations"] = dict(patch.annotations)
    container["env"] += [e.manifest() for e in patch.env or []]
    container["volumeMounts"] += [m.manifest() for m in patch.volume_mounts or []]
    pod_spec["volumes"] += [v.manifest() for v in patch.volumes or []]
