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
    reason: str | None = None  # the pod's status.reason: DeadlineExceeded, Evicted ...
    status_message: str = ""

    @property
    def error(self) -> str:
        """The worker's one-line error, or the best line the pod status offers."""
        if self.reason == "DeadlineExceeded":  # the kubelet stopped it: the worker's own message says "terminated"
            return f"stopped at its deadline ({self.status_message or 'activeDeadlineSeconds'})"
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


def succeeded(pod: dict[str, Any]) -> bool:
    """The pod has succeeded, or will: phase Succeeded, or every container terminated with exit code 0 in a pod
    that never restarts it. Kubelet reports the exits at once but the phase only after it has torn the pod
    down (about a second later on the test node), so this is the stage's end a hand-off waits for."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return True
    spec = pod.get("spec") or {}
    if status.get("phase") not in ("Pending", "Running") or spec.get("restartPolicy") not in ("Never", "OnFailure"):
        return False
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False  # being stopped (evicted, preempted, deleted): only the phase it ends in says how it went
    wanted = {c.get("name") for c in spec.get("containers") or []}
    statuses = status.get("containerStatuses") or []
    exits = {cs.get("name"): ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") for cs in statuses}
    return bool(wanted) and set(exits) == wanted and all(code == 0 for code in exits.values())


def pod_outcome(pod: dict[str, Any]) -> PodOutcome:
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    phase = "Succeeded" if succeeded(pod) else status.get("phase") or "Pending"
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
        reason=status.get("reason"),
        status_message=(status.get("message") or "").strip(),
    )


# Container waiting reasons that do not clear up by themselves: the pod never starts until someone acts.
STUCK_WAITING = frozenset(
    {
        "ErrImagePull",
        "ErrImageNeverPull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def why_not_started(pod: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) when a Pending pod cannot start: the scheduler found no node (a missing claim, too few
    resources, a node selector nothing matches) or its container cannot be created. None when it is on its way."""
    status = pod.get("status") or {}
    if status.get("phase") not in (None, "Pending") or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return "Unschedulable", (c.get("message") or "no node can run it").strip()
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_WAITING:
            return waiting["reason"], (waiting.get("message") or waiting["reason"]).strip()
    return None


@dataclass(frozen=True)
class JobState:
    completed: set[int]
    failed: set[int]
    active: int
    ready: int  # active pods that are running (no readiness probes: Ready once started)
    failed_pods: int
    suspended: bool
    complete: bool
    failure: str | None  # the Job's failure reason when it failed (or is about to)
    completions: int | None = None


def job_state(job: dict[str, Any]) -> JobState:
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    failure = conditions.get("Failed") or conditions.get("FailureTarget")
    return JobState(
        completed=parse_indexes(status.get("completedIndexes")),
        failed=parse_indexes(status.get("failedIndexes")),
        active=int(status.get("active") or 0),
        ready=int(status.get("ready") or 0),
        failed_pods=int(status.get("failed") or 0),
        suspended=bool((job.get("spec") or {}).get("suspend")),
        complete="Complete" in conditions,
        completions=(job.get("spec") or {}).get("completions"),
        failure=None if failure is None else (failure.get("reason") or "Failed"),
    )
