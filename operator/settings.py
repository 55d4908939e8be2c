"""Operator settings from its environment (the chart sets these)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class OperatorSettings:
    worker_image: str
    redis_url: str | None
    # The safety net: a live VideoJob is reconciled this often at the latest; its children's events wake it sooner.
    resync_seconds: float
    stall_seconds: float  # a segment pod with no Redis heartbeat for this long is deleted and retried (stalls.py)
    metrics_port: int  # 0 = no metrics endpoint
    peering: str | None  # kopf peering name for several replicas; None = standalone (one replica)
    # VideoJob label and annotation keys copied onto its Jobs (a key ending in "/" is a prefix): Kueue reads
    # kueue.x-k8s.io/queue-name and priority-class from the Job it admits.
    propagate_keys: tuple[str, ...] = ("kueue.x-k8s.io/",)
    child_ttl_seconds: int = 600  # finished child Jobs and their pods are removed by the TTL controller after this
    # While only a VideoJob's counts change (segments and frames done, its message), its status is written at most
    # this often: each write comes back as a watch event to every VideoJob watcher (this operator included). 10 s:
    # at most one request per job per 10 s while segments merely progress (issue 13's target).
    # A new phase, condition or Event is written at once. 0: every change at once.
    status_interval_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> OperatorSettings:
        return cls(
            worker_image=os.environ.get("VIDEOJOB_WORKER_IMAGE", "ghcr.io/videojob/videojob-worker:0.1.0"),
            redis_url=os.environ.get("VIDEOJOB_REDIS_URL") or None,
            resync_seconds=_float("VIDEOJOB_RESYNC_SECONDS", 10.0),
            stall_seconds=_float("VIDEOJOB_STALL_SECONDS", 300.0),
            status_interval_seconds=_float("VIDEOJOB_STATUS_INTERVAL_SECONDS", 10.0),
            metrics_port=int(os.environ.get("VIDEOJOB_METRICS_PORT", "9090")),
            peering=os.environ.get("VIDEOJOB_PEERING") or None,
            propagate_keys=tuple(
                k.strip() for k in os.environ.get("VIDEOJOB_PROPAGATE_KEYS", "kueue.x-k8s.io/").split(",") if k.strip()
            ),
            child_ttl_seconds=int(os.environ.get("VIDEOJOB_CHILD_TTL_SECONDS", "600")),
        )
