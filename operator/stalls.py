"""Stalled segments: a running segment pod whose Redis heartbeat stopped is deleted, and the Indexed Job replaces it.

What a stall costs: the deleted pod fails (killed, exit 137), and the Job's podFailurePolicy has no rule for that,
so it uses one of the index's retries (`backoffLimitPerIndex`, spec.retriesPerSegment) like a crash would. A hung
worker is a failed worker; a segment that hangs every time must not be retried for ever. Evictions and preemptions
(DisruptionTarget) stay free.

A heartbeat older than the pod's start belongs to an earlier pod of the index (the one deleted for a stall, or one
that crashed): the new pod has not reported yet, which is never a stall (it may be loading, or queued), so it is
not deleted again for its predecessor's silence. Both times come from the node's clock (the worker's `time.time()`
and kubelet's startTime), so the operator's clock does not enter that comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import progress
from .kube import Kube
from .observe import completion_index, pod_outcome


@dataclass(frozen=True)
class Stall:
    index: int
    pod: str
    uid: str
    silent_seconds: float  # since the pod's last heartbeat


def stalled_pods(
    pods: Iterable[dict[str, Any]],
    live: progress.Progress,
    now: float,
    after_seconds: float,
    active_indexes: Iterable[int],
) -> list[Stall]:
    """The running, not terminating, segment pods whose own last heartbeat is older than `after_seconds`."""
    candidates = set(progress.stalled(live, now, after_seconds, active_indexes))
    out = []
    for raw in pods:
        index = completion_index(raw)
        if index not in candidates:
            continue
        pod = pod_outcome(raw)  # phase "Terminating" once deletionTimestamp is set
        beat = live.segments[index].ts
        if pod.phase != "Running" or pod.started is None or beat < pod.started.timestamp():
            continue
        meta = raw["metadata"]
        out.append(Stall(index, meta["name"], meta["uid"], round(now - beat, 1)))
    return sorted(out, key=lambda s: s.index)


def restart_stalled(
    kube: Kube,
    namespace: str,
    selector: str,
    live: progress.Progress,
    now: float,
    after_seconds: float,
    active_indexes: Iterable[int],
) -> list[Stall]:
    """Delete the stalled segment pods (uid precondition: never a newer pod of the name); the ones deleted now.

    A deleted pod is Terminating on the next tick and its replacement has a later start than the old heartbeat,
    so each stall is reported once, not once per tick."""
    active = set(active_indexes)
    if not progress.stalled(live, now, after_seconds, active):
        return []  # no old heartbeat: no need to list the pods
    pods = kube.list_pods(namespace, selector)
    # No grace period: a hung worker has nothing to finish (segment files are written atomically), and the Job's
    # tracking finalizer keeps the pod object until it has failed, so its GPU is not handed out before that.
    return [
        s
        for s in stalled_pods(pods, live, now, after_seconds, active)
        if kube.delete_pod(namespace, s.pod, s.uid, grace_seconds=0)
    ]
