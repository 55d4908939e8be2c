"""Read the state of children (plain dicts as the API returns them). Pure functions, unit-tested."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import api


def parse_indexes(text: str | None) -> set[int]:
    """A Job's `completedIndexes`/`failedIndexes`: "1,3-5,7" -> {1, 3, 4, 5, 7}."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def completion_index(pod: dict[str, Any]) -> int | None:
    """The index of an Indexed Job's pod, from the annotation the Job controller sets."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get("batch.kubernetes.io/job-completion-index")
    return int(raw) if raw is not None and raw.isdigit() else None


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class PodOutcome:
    phase: str  # Pending | Running | Succeeded | Failed | Unknown | Terminating
    exit_code: int | None
    message: dict[str, Any] | None  # the worker's JSON termination message
    raw_message: str
    disrupted: bool  # evicted/preempted: not the worker's fault
    started: datetime | None
    created: datetime | None

    @property
    def error(self) -> str:
        """The worker's one-line error, or the best line the pod status offers."""
        if self.message and isinstance(self.message.get("error"), str):
            return self.message["error"]
        lines = [ln for ln in self.raw_message.splitlines() if ln.strip()]
        if lines:
            return lines[-1].strip()[:500]
        return f"exit code {self.exit_code}" if self.exit_code is not None else "no reason given"

    @property
    def bad_input(self) -> bool:
        kind = (self.message or {}).get("kind")
        return kind == "bad-input" or self.exit_code == api.EXIT_BAD_INPUT


def pod_outcome(pod: dict[str, Any]) -> PodOutcome:
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    phase = status.get("phase") or "Pending"
    if meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        phase = "Terminating"
    terminated: dict[str, Any] = {}
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == api.WORKER_CONTAINER:
            terminated = (cs.get("state") or {}).get("terminated") or {}
    raw = terminated.get("message") or ""
    message: dict[str, Any] | None = None
    if raw.strip().startswith("{"):
        try:
            parsed = json.loads(raw.strip().splitlines()[0])
            message = parsed if isinstance(parsed, dict) else None
        except json.JSONDecodeError:
            message = None
    disrupted = any(
        c.get("type") == "DisruptionTarget" and c.get("status") == "True" for c in status.get("conditions") or []
    ) or status.get("reason") in ("Evicted", "Preempting")
    return PodOutcome(
        phase=phase,
        exit_code=terminated.get("exitCode"),
        message=message,
        raw_message=raw,
        disrupted=disrupted,
        started=parse_time(terminated.get("startedAt") or status.get("startTime")),
        created=parse_time(meta.get("creationTimestamp")),
    )


@dataclass(frozen=True)
class JobState:
    completed: set[int]
    failed: set[int]
    active: int
    failed_pods: int
    suspended: bool
    complete: bool
    failure: str | None  # the Job's failure reason when it failed (or is about to)


def job_state(job: dict[str, Any]) -> JobState:
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    failure = conditions.get("Failed") or conditions.get("FailureTarget")
    return JobState(
        completed=parse_indexes(status.get("completedIndexes")),
        failed=parse_indexes(status.get("failedIndexes")),
        active=int(status.get("active") or 0),
        failed_pods=int(status.get("failed") or 0),
        suspended=bool((job.get("spec") or {}).get("suspend")),
        complete="Complete" in conditions,
        failure=None if failure is None else (failure.get("reason") or "Failed"),
    )
