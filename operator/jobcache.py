"""The newest state of the VideoJobs' Jobs and pods as the operator's watches delivered them: a round reads its Job
and its stage's pods from here instead of asking the API server (one GET per job per tick, then one LIST per pod
event, were most of the operator's requests)."""

from __future__ import annotations

import threading
import time
from typing import Any


class JobCache:
    """Jobs by (namespace, name), with when each was seen. An entry older than `max_age` is not trusted (a watch
    that silently stalled): the caller reads the API server then, as it does for a Job not seen yet."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._jobs: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, namespace: str, name: str, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[(namespace, name)] = (time.monotonic(), job)

    def refresh(self, namespace: str, name: str, job: dict[str, Any], fetched_at: float) -> None:
        """What a GET started at `fetched_at` (monotonic) returned, unless the watch delivered a copy since (newer).
        Without this, a Job quiet for longer than `max_age` was read from the API server on every round."""
        with self._lock:
            found = self._jobs.get((namespace, name))
            if found is None or found[0] < fetched_at:
                self._jobs[(namespace, name)] = (time.monotonic(), job)

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._jobs.pop((namespace, name), None)

    def seen(self, namespace: str, name: str) -> bool:
        """Whether the watch (or a read) ever delivered this Job, fresh or not."""
        with self._lock:
            return (namespace, name) in self._jobs

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._jobs.get((namespace, name))
        if found is None or time.monotonic() - found[0] > self.max_age:
            return None
        return found[1]


def matches_selector(labels: dict[str, str], selector: str) -> bool:
    """An equality-based label selector (`k=v,k2=v2`, what naming.selector makes)."""
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class PodCache:
    """The VideoJobs' pods as the operator's pod watch delivered them, so that a round reads its stage's pods
    without a LIST (a LIST per pod event was most of the operator's requests: 233 of 332 for one job of 40
    segments).

    The watch alone cannot say that it has delivered every pod of a selector (its initial listing arrives as
    events in no marked order), so a selector is served from here only after a real LIST seeded it, and for
    `max_age` seconds after that; then the caller lists again, which also repairs what a stalled watch missed.
    A seed keeps what the watch delivered after the LIST began (at least as new) and takes the LIST's word for
    everything older, absent pods included.

    `covering` is the pod watch's own selector: one LIST of it seeds every selector of its namespace (the caller
    lists it instead of each job's and stage's selector: 213 of 1850 requests with 50 jobs in one namespace)."""

    def __init__(self, max_age: float, covering: str = "") -> None:
        self.max_age = max_age
        self.covering = covering
        # (namespace, name) -> (when the watch or a LIST delivered it, the pod; None: deleted)
        self._pods: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
        self._seeded: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def put(self, namespace: str, pod: dict[str, Any]) -> None:
        name = (pod.get("metadata") or {}).get("name", "")
        with self._lock:
            self._pods[(namespace, name)] = (time.monotonic(), pod)

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pods[(namespace, name)] = (time.monotonic(), None)

    def seed(self, namespace: str, selector: str, pods: list[dict[str, Any]], listed_at: float) -> None:
        """What a LIST of `selector` started at `listed_at` (monotonic) returned."""
        listed = {(pod.get("metadata") or {}).get("name", ""): pod for pod in pods}
        with self._lock:
            for key, (seen, pod) in list(self._pods.items()):
                if (
                    key[0] == namespace
                    and seen < listed_at
                    and pod is not None
                    and matches_selector(pod_labels(pod), selector)
                ):
                    del self._pods[key]  # older than the LIST: the LIST has it, or it is gone
            for name, pod in listed.items():
                seen, _ = self._pods.get((namespace, name), (-1.0, None))
                if seen < listed_at:
                    self._pods[(namespace, name)] = (listed_at, pod)
            self._seeded[(namespace, selector)] = listed_at
            # Tombstones only need to outlive the LISTs that began before them.
            horizon = time.monotonic() - 2 * self.max_age
            self._pods = {k: v for k, v in self._pods.items() if v[1] is not None or v[0] > horizon}

    def get(self, namespace: str, selector: str) -> list[dict[str, Any]] | None:
        """The pods matching `selector`, or None when no LIST seeded the selector within `max_age`."""
        with self._lock:
            seeds = [self._seeded.get((namespace, selector)), self._seeded.get((namespace, self.covering))]
            seeded = max((t for t in seeds if t is not None), default=None)
            if seeded is None or time.monotonic() - seeded > self.max_age:
                return None
            return [
                pod
                for (ns, _), (_, pod) in self._pods.items()
                if ns == namespace
                and pod is not None
                and matches_selector(pod_labels(pod), self.covering)
                and matches_selector(pod_labels(pod), selector)
            ]


def pod_labels(pod: dict[str, Any]) -> dict[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}
