"""Wake-ups: an event on a VideoJob's child (its Jobs, their pods) or on the VideoJob itself ends the wait of that
VideoJob's loop at once, so a stage hands over within a watch event's latency instead of a resync period.

Keyed by (namespace, the `videojob.dev/job` label value), which every child carries. All on kopf's event loop."""

from __future__ import annotations

import asyncio

from ..naming import short

_events: dict[tuple[str, str], asyncio.Event] = {}
_pods_changed: set[tuple[str, str]] = set()  # woken by a pod's event: the next round reads the pods


def key(namespace: str, job_name: str) -> tuple[str, str]:
    return (namespace, short(job_name, 63))


def waiter(namespace: str, job_name: str) -> asyncio.Event:
    return _events.setdefault(key(namespace, job_name), asyncio.Event())


def wake_label(namespace: str, label_value: str, pods: bool = False) -> None:
    event = _events.get((namespace, label_value))
    if event is not None:
        if pods:
            _pods_changed.add((namespace, label_value))
        event.set()


def take_pods_changed(namespace: str, job_name: str) -> bool:
    """Whether a pod of this VideoJob changed since the last call (and forget it)."""
    k = key(namespace, job_name)
    if k in _pods_changed:
        _pods_changed.discard(k)
        return True
    return False


def forget(namespace: str, job_name: str) -> None:
    _pods_changed.discard(key(namespace, job_name))
    event = _events.pop(key(namespace, job_name), None)
    if event is not None:
        event.set()  # a loop still waiting ends now
