"""The three children of a VideoJob, all Jobs: detect, an Indexed Job of segment pods, finalize. Pure functions."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import api
from ..naming import base_name, child_name, labels
from .context import ChildContext
from .pods import pod_template


def _metadata(ctx: ChildContext, stage: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": child_name(ctx.name, stage),
        "namespace": ctx.namespace,
        "labels": {**dict(ctx.job_labels), **labels(ctx.name, stage)},
        "ownerReferences": [ctx.owner_reference()],
    }
    if ctx.job_annotations:
        meta["annotations"] = dict(ctx.job_annotations)
    return meta


def _failure_policy() -> dict[str, Any]:
    """Evictions, preemption and node drains are not the stage's fault and use no retry; bad input (exit 2)
    can never succeed: the Job fails that index (segments) or the whole Job (detect, finalize) at once."""
    return {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": api.WORKER_CONTAINER,
                    "operator": "In",
                    "values": [api.EXIT_BAD_INPUT],
                },
            },
        ]
    }


def _job(ctx: ChildContext, stage: str, template: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(ctx, stage),
        "spec": {
            # Finished Jobs and their pods go by themselves; the VideoJob's status keeps what they reported.
            "ttlSecondsAfterFinished": ctx.child_ttl_seconds,
            # A failed pod is replaced only once it has fully terminated: never two workers on one output file.
            "podReplacementPolicy": "Failed",
            **spec,
            "template": template,
        },
    }


def _single_job(ctx: ChildContext, stage: str, env: dict[str, str], gpus: int) -> dict[str, Any]:
    """Detect or finalize: a one-completion Job, so that retries, lost nodes and deadlines are the Job
    controller's work (a bare pod on a lost node stays Unknown for ever)."""
    template = pod_template(ctx, stage, env=env, gpus=gpus)
    return _job(
        ctx,
        stage,
        template,
        {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": ctx.spec.retries_per_segment,
            "podFailurePolicy": _failure_policy(),
        },
    )


def detect_gpus(ctx: ChildContext) -> int:
    """Only a neural detector needs a GPU to probe and plan."""
    return ctx.spec.resources.gpus_per_pod if ctx.spec.detector.kind == "yolo" else 0


def finalize_gpus(ctx: ChildContext) -> int:
    """Finalize concatenates packets; it encodes (and may want NVENC) only in finalize-stage mode."""
    enc = ctx.spec.encode
    return ctx.spec.resources.gpus_per_pod if enc.stage == "finalize" and enc.encoder != "software" else 0


def build_detect_job(ctx: ChildContext) -> dict[str, Any]:
    # The output's path too: detect checks it (not the input, writable, a known format) before any GPU time.
    return _single_job(ctx, "detect", {"VIDEOJOB_OUTPUT": ctx.output_path}, detect_gpus(ctx))


def build_finalize_job(ctx: ChildContext) -> dict[str, Any]:
    return _single_job(ctx, "finalize", _finalize_env(ctx), finalize_gpus(ctx))


def _finalize_env(ctx: ChildContext) -> dict[str, str]:
    # Finalize removes the work directory as its last act, after the output is in place (unless spec.keepWorkdir).
    return {"VIDEOJOB_OUTPUT": ctx.output_path, "VIDEOJOB_KEEP_WORKDIR": str(ctx.spec.keep_workdir).lower()}


POOL_FACTOR = 2  # auto: pool mode once there are more than this many segments per parallel pod


def segment_mode(ctx: ChildContext, segments: int) -> str:
    """pod-per-segment or pool. auto picks pool for many short segments: with more than 2 segments per parallel
    pod, one pod per segment pays pod start (Kubernetes' SLO: 5 s p99), imports and model load (3-6 s for torch
    and YOLO) three times or more per slot, often more than a short segment's own compute; at 2 or fewer, pool saves
    at most one start per slot and pod-per-segment keeps one Job index (and its retries) per segment."""
    mode = ctx.spec.segmentation.mode
    if mode != "auto":
        return mode
    return "pool" if segments > POOL_FACTOR * ctx.spec.max_parallel_pods else "pod-per-segment"


def pool_slots(ctx: ChildContext, segments: int) -> int:
    return min(ctx.spec.max_parallel_pods, segments)


def build_segment_job(ctx: ChildContext, segments: int) -> dict[str, Any]:
    """The segment Job in its mode (segment_mode): one completion per segment, or one per pool worker."""
    if segments < 1:
        raise ValueError(f"a segment Job needs at least one segment, got {segments}")
    if segment_mode(ctx, segments) == "pool":
        return build_pool_job(ctx, segments)
    return _indexed_segment_job(ctx, segments, segments, "segment", {})


def build_pool_job(ctx: ChildContext, segments: int) -> dict[str, Any]:
    """P = min(maxParallelPods, segments) warm workers (`python -m videojob.worker pool`), an Indexed Job of P
    completions (the index is the worker's slot). Each claims segment after segment from the work directory; a
    slot's pod that dies is retried by the Job like a segment pod, and its claimed segment is taken over once its
    heartbeat is stale. Per-segment retries are counted in the claims (VIDEOJOB_RETRIES_PER_SEGMENT)."""
    slots = pool_slots(ctx, segments)
    env = {"VIDEOJOB_RETRIES_PER_SEGMENT": str(ctx.spec.retries_per_segment), "VIDEOJOB_POOL_SLOTS": str(slots)}
    job = _indexed_segment_job(ctx, slots, slots, "pool", env)
    # Claims name their holder by pod: the pod's hostname is `<job>-<slot>`, the same for a slot's replacement.
    job["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "VIDEOJOB_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    )
    return job


def is_pool_job(job: dict[str, Any]) -> bool:
    """Whether a segment Job runs pool workers (read from the Job: its mode never changes once it exists)."""
    containers = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or [{}]
    return (containers[0].get("command") or [""])[-1] == "pool"


def _indexed_segment_job(
    ctx: ChildContext, completions: int, parallelism: int, command: str, extra_env: dict[str, str]
) -> dict[str, Any]:
    spec = ctx.spec
    template = pod_template(ctx, "segments", gpus=spec.resources.gpus_per_pod, env=extra_env)
    template["spec"]["containers"][0]["command"][-1] = command
    env = template["spec"]["containers"][0]["env"]
    # The downward API: the Job controller annotates each pod with its index.
    env.append(
        {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
            },
        }
    )
    policy = _failure_policy()
    # Bad input in one segment fails that index at once; maxFailedIndexes 0 then fails the Job.
    policy["rules"][1]["action"] = "FailIndex"
    return _job(
        ctx,
        "segments",
        template,
        {
            "completions": completions,
            "parallelism": min(parallelism, spec.max_parallel_pods),
            "completionMode": "Indexed",
            "backoffLimitPerIndex": spec.retries_per_segment,
            # One segment that cannot be done makes the whole output impossible: fail fast.
            "maxFailedIndexes": 0,
            "podFailurePolicy": policy,
            "suspend": spec.suspend,
        },
    )


CLEANUP_DEADLINE_SECONDS = 600  # removing a work directory takes seconds; a pod that hangs on the volume is stopped
CLEANUP_TTL_SECONDS = 600


def cleanup_name(job_name: str) -> str:
    return f"{base_name(job_name)}-cleanup"


def build_cleanup_job(ctx: ChildContext) -> dict[str, Any]:
    """After a failure: a one-completion Job (`python -m videojob.worker cleanup`) that removes the VideoJob's own
    work directory and nothing else (worker/cleanup.py refuses any other path). Only the output volume is mounted;
    the pod is as restricted as every other, small, and gone ttlSecondsAfterFinished after it ends."""
    out_only = dataclasses.replace(ctx, volumes=(ctx.volumes[-1],))
    template = pod_template(out_only, "finalize", template_labels=labels(ctx.name, "cleanup"))
    pod = template["spec"]
    container = pod["containers"][0]
    container["command"] = ["python", "-m", "videojob.worker", "cleanup"]
    container["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    pod["activeDeadlineSeconds"] = CLEANUP_DEADLINE_SECONDS
    bad_input = {"containerName": api.WORKER_CONTAINER, "operator": "In", "values": [api.EXIT_BAD_INPUT]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": cleanup_name(ctx.name),
            "namespace": ctx.namespace,
            "labels": labels(ctx.name, "cleanup"),
            "ownerReferences": [ctx.owner_reference()],
        },
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 3,
            "activeDeadlineSeconds": CLEANUP_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": CLEANUP_TTL_SECONDS,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {
                "rules": [
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                    # A work directory it must not remove: retrying cannot change that.
                    {"action": "FailJob", "onExitCodes": bad_input},
                ]
            },
            "template": template,
        },
    }
