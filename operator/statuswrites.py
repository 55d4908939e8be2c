"""When a VideoJob's new status is written: at once when anything a user or a script waits on changed (phase,
conditions, an Event to post with it, anything but the counts), and at most once per interval while only the
counts move (segments and frames done, pods running, the progress percent and the message that says so).

Why: every status write is a request, and comes back as a watch event that each VideoJob watcher handles (kopf
parses it here too). With pod-per-segment jobs the counts change about twice per segment: 1882 writes for one
job of 1000 segments. A held status is kept here and is what the next round starts from (so that nothing it
counted, such as frames added to a metric, is counted again); it is written when its interval has passed, by the
round that the caller schedules for then, or at once with the next change that matters."""

from __future__ import annotations

import copy
import time
from typing import Any

# Fields of the status that only count progress, by path; a change elsewhere is written at once.
_COUNTS: tuple[tuple[str, ...], ...] = (
    ("progress",),
    ("message",),
    ("frames", "done"),
    ("segments", "succeeded"),
    ("segments", "active"),
)


def _without_counts(status: dict[str, Any]) -> dict[str, Any]:
    rest = copy.deepcopy(status)
    for path in _COUNTS:
        parent: Any = rest
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent.get(key), dict) else {}
        parent.pop(path[-1], None)
    return rest


def counts_only(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` differs from `stored` in progress counts only (or not at all)."""
    return _without_counts(stored) == _without_counts(new)


class StatusWrites:
    """Per VideoJob uid: when its status was last written, and the status held back since."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._written_at: dict[str, float] = {}
        self._held: dict[str, dict[str, Any]] = {}

    def held(self, uid: str) -> dict[str, Any] | None:
        return self._held.get(uid)

    def hold_for(self, uid: str, stored: dict[str, Any], new: dict[str, Any], has_events: bool) -> float:
        """Seconds to hold `new` back (0: write it now). A held one is kept as the next round's starting point."""
        last = self._written_at.get(uid)
        wait = 0.0 if last is None else last + self.interval - time.monotonic()
        if has_events or wait <= 0 or not counts_only(stored, new):
            return 0.0
        self._held[uid] = new
        return wait

    def written(self, uid: str) -> None:
        self._written_at[uid] = time.monotonic()
        self._held.pop(uid, None)

    def unchanged(self, uid: str) -> None:
        """The round's status is the stored one: nothing is held."""
        self._held.pop(uid, None)

    def forget(self, uid: str) -> None:
        self._written_at.pop(uid, None)
        self._held.pop(uid, None)
