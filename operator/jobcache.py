"""The newest state of the VideoJobs' Jobs as the operator's watch delivered it: a tick reads its Job from here
instead of asking the API server (one GET per job per tick was most of the operator's requests)."""

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

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._jobs.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._jobs.get((namespace, name))
        if found is None or time.monotonic() - found[0] > self.max_age:
            return None
        return found[1]
