"""Wake-ups: an event on a VideoJob's child (its Jobs, their pods) or on the VideoJob itself ends the wait of that
VideoJob's loop at once, so a stage hands over within a watch event's latency instead of a resync period.

Keyed by (namespace, the `videojob.dev/job` label value), which every child carries. All on kopf's event loop."""

from __future__ import annotations

import asyncio

from ..naming import short

_events: dict[tuple[str, str], asyncio.Event] = {}


def key(namespace: str, job_name: str) -> tuple[str, str]:
    return (namespace, short(job_name, 63))


def waiter(namespace: str, job_name: str) -> asyncio.Event:
    return _events.setdefault(key(namespace, job_name), asyncio.Event())


def wake_label(namespace: str, label_value: str) -> None:
    event = _events.get((namespace, label_value))
    if event is not None:
        event.set()


def forget(namespace: str, job_name: str) -> None:
    event = _events.pop(key(namespace, job_name), None)
    if event is not None:
        event.set()  # a loop still waiting ends now
