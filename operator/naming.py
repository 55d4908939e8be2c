"""Deterministic names and labels of a VideoJob's children (the operator finds them again after a restart)."""

from __future__ import annotations

import hashlib
import re

from . import api

STAGES = ("detect", "segments", "finalize")
# Every child name is a DNS label (63 characters, no dots): the Indexed Job's pods take `<job>-<index>` as their
# hostname, and a Job's name becomes a label value on its pods. Indexes go up to 9999 (segments <= 10000).
_MAX = 63
_INDEX_SUFFIX = len("-9999")
# The longest suffix a child name gets: `-segments`, `-finalize`, `-progress`.
_LONGEST_SUFFIX = max(len(f"-{s}") for s in (*STAGES, "progress"))
BASE_MAX = _MAX - _INDEX_SUFFIX - _LONGEST_SUFFIX  # 49
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The work directory's folder keeps at most this much of the VideoJob's name (a file name is at most 255 bytes).
_WORKDIR_NAME_MAX = 64


def short(text: str, limit: int) -> str:
    """`text` if it fits in `limit`, else a prefix plus a hash of the whole: unique and stable."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: limit - 9].rstrip('-.')}-{digest}"


def base_name(job_name: str) -> str:
    """What every child's name starts with: the VideoJob's name when it is a DNS label of at most BASE_MAX
    characters, else a DNS label made of it (dots as dashes, truncated) plus a hash of the whole name, so that
    `cam.01.v2` and `cam-01-v2` (both legal) never share children. Deterministic: a restarted operator finds
    the children again."""
    if len(job_name) <= BASE_MAX and _DNS_LABEL.match(job_name):
        return job_name
    digest = hashlib.sha256(job_name.encode()).hexdigest()[:8]
    label = re.sub(r"[^a-z0-9-]+", "-", job_name.lower())[: BASE_MAX - 9].strip("-")
    return f"{label}-{digest}" if label else digest


def child_name(job_name: str, stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return f"{base_name(job_name)}-{stage}"


def secret_name(job_name: str) -> str:
    """The VideoJob's Secret holding the Redis URL for its segment pods: `<base>-progress`."""
    return f"{base_name(job_name)}-progress"


def component(stage: str) -> str:
    return "segment" if stage == "segments" else stage


# On every child of every VideoJob (labels below): what the operator's watches of pods and Jobs select.
MANAGED_BY = {"app.kubernetes.io/managed-by": "videojob-operator"}
MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def labels(job_name: str, stage: str) -> dict[str, str]:
    value = short(job_name, 63)
    return {
        "app.kubernetes.io/name": "videojob",
        "app.kubernetes.io/instance": value,
        "app.kubernetes.io/component": component(stage),
        "app.kubernetes.io/part-of": "videojob",
        **MANAGED_BY,
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
    """WORKDIR's folder under `<output volume>/.videojob/` (contracts.md): `<namespace>.<name>.<uid[:8]>`, the
    name shortened (with a hash) past 64 characters so that the folder's name stays far below 255 bytes."""
    return f"{namespace}.{short(name, _WORKDIR_NAME_MAX)}.{uid[:8]}"
