"""The three children of a VideoJob: detect pod, Indexed Job of segment pods, finalize pod. Pure functions."""

from __future__ import annotations

from typing import Any

from .. import api
from ..naming import child_name, labels
from .context import ChildContext
from .pods import pod_template


def _metadata(ctx: ChildContext, stage: str) -> dict[str, Any]:
    return {
        "name": child_name(ctx.name, stage),
        "namespace": ctx.namespace,
        "labels": labels(ctx.name, stage),
        "ownerReferences": [ctx.owner_reference()],
    }


def _pod(ctx: ChildContext, stage: str, env: dict[str, str] | None, gpus: int) -> dict[str, Any]:
    template = pod_template(ctx, stage, env=env, gpus=gpus)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(ctx, stage), "spec": template["spec"]}


def detect_gpus(ctx: ChildContext) -> int:
    """Only a neural detector needs a GPU to probe and plan."""
    return ctx.spec.resources.gpus_per_pod if ctx.spec.detector.kind == "yolo" else 0


def finalize_gpus(ctx: ChildContext) -> int:
    """Finalize concatenates packets; it encodes (and may want NVENC) only in finalize-stage mode."""
    enc = ctx.spec.encode
    return ctx.spec.resources.gpus_per_pod if enc.stage == "finalize" and enc.encoder != "software" else 0


def build_detect_pod(ctx: ChildContext) -> dict[str, Any]:
    # The output's path too, so that detect refuses an output that is the input before any GPU time is spent.
    return _pod(ctx, "detect", {"VIDEOJOB_OUTPUT": ctx.output_path}, detect_gpus(ctx))


def build_finalize_pod(ctx: ChildContext) -> dict[str, Any]:
    return _pod(ctx, "finalize", {"VIDEOJOB_OUTPUT": ctx.output_path}, finalize_gpus(ctx))


def build_segment_job(ctx: ChildContext, segments: int) -> dict[str, Any]:
    """An Indexed Job, one completion per segment; retries and failure rules live in the Job."""
    if segments < 1:
        raise ValueError(f"a segment Job needs at least one segment, got {segments}")
    spec = ctx.spec
    template = pod_template(ctx, "segments", gpus=spec.resources.gpus_per_pod)
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
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(ctx, "segments"),
        "spec": {
            "completions": segments,
            "parallelism": min(segments, spec.max_parallel_pods),
            "completionMode": "Indexed",
            "backoffLimitPerIndex": spec.retries_per_segment,
            # One segment that cannot be done makes the whole output impossible: fail fast.
            "maxFailedIndexes": 0,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {
                "rules": [
                    # Evictions, preemption, node drains: not the segment's fault, no retry used.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                    # Bad input (exit 2): retrying cannot help.
                    {
                        "action": "FailIndex",
                        "onExitCodes": {
                            "containerName": api.WORKER_CONTAINER,
                            "operator": "In",
                            "values": [api.EXIT_BAD_INPUT],
                        },
                    },
                ]
            },
            "suspend": spec.suspend,
            "template": template,
        },
    }
