"""Deterministic names and labels of a VideoJob's children (the operator finds them again after a restart)."""

from __future__ import annotations

import hashlib

from . import api

STAGES = ("detect", "segments", "finalize")
# Job names are limited to 63 characters (they become a label value on the Job's pods).
_MAX = 63


def short(text: str, limit: int) -> str:
    """`text` if it fits in `limit`, else a prefix plus a hash of the whole: unique and stable."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-.')}-{digest}"


def child_name(job_name: str, stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return f"{short(job_name, _MAX - len(stage) - 1)}-{stage}"


def secret_name(job_name: str) -> str:
    """The VideoJob's Secret holding the Redis URL for its segment pods: `<job>-progress`."""
    return f"{short(job_name, _MAX - len('-progress'))}-progress"


def component(stage: str) -> str:
    return "segment" if stage == "segments" else stage


def labels(job_name: str, stage: str) -> dict[str, str]:
    value = short(job_name, 63)
    return {
        "app.kubernetes.io/name": "videojob",
        "app.kubernetes.io/instance": value,
        "app.kubernetes.io/component": component(stage),
        "app.kubernetes.io/part-of": "videojob",
        "app.kubernetes.io/managed-by": "videojob-operator",
        f"{api.GROUP}/job": value,
        f"{api.GROUP}/stage": component(stage),
    }


def selector(job_name: str, stage: str | None = None) -> str:
    """A label selector for the children of one VideoJob (one stage when given)."""
    parts = [f"{api.GROUP}/job={short(job_name, 63)}"]
    if stage:
        parts.append(f"{api.GROUP}/stage={component(stage)}")
    return ",".join(parts)


def workdir_name(namespace: str, name: str, uid: str) -> str:
    """WORKDIR's folder under `<output volume>/.videojob/` (contracts.md)."""
    return f"{namespace}.{name}.{uid[:8]}"
