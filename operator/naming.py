"""Deterministic names of a VideoJob's children and where its files live on the volumes."""

from __future__ import annotations

import hashlib
import posixpath

DATA_MOUNT = "/data"
OUTPUT_MOUNT = "/output"
STAGES = ("detect", "segments", "finalize")
MAX_CHILD = 52  # Job pods append "-<index>-<5 chars>" and must stay within 63


def child_name(job: str, stage: str) -> str:
    name = f"{job}-{stage}"
    if len(name) <= MAX_CHILD:
        return name
    digest = hashlib.sha256(job.encode()).hexdigest()[:8]
    return f"{job[: MAX_CHILD - len(stage) - 10]}-{digest}-{stage}"


def safe_join(mount: str, path: str) -> str:
    """`path` inside `mount`; refuses anything that would leave the volume."""
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"path {path!r} must be relative to its volume, without '..', '.' or empty segments")
    joined = posixpath.normpath(posixpath.join(mount, path))
    if not joined.startswith(mount + "/"):
        raise ValueError(f"path {path!r} escapes its volume")
    return joined


def workdir_path(namespace: str, name: str, uid: str) -> str:
    return f".videojob/{namespace}.{name}.{uid[:8]}"
