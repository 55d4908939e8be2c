"""VideoJob handlers: one kopf timer per unfinished VideoJob drives the state machine in controller.py."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from .. import api, metrics
from ..controller import Controller
from ..kube import Kube, configure
from ..naming import child_name, selector
from ..settings import OperatorSettings
from ..status import TERMINAL

SETTINGS = OperatorSettings.from_env()
log = logging.getLogger("videojob.operator")
_controller: Controller | None = None
# Status this process wrote last, per uid: the watch may lag behind our own patch by a tick.
_written: dict[str, dict[str, Any]] = {}
_phases: dict[str, str] = {}


def controller() -> Controller:
    global _controller
    if _controller is None:
        configure()
        _controller = Controller(Kube(), SETTINGS)
    return _controller


@kopf.timer(api.GROUP, api.VERSION, api.PLURAL, interval=SETTINGS.resync_seconds, initial_delay=0.0)
def reconcile(body: kopf.Body, status: kopf.Status, uid: str, patch: kopf.Patch, **_: Any) -> None:
    seen = dict(status)
    mine = _written.get(uid)
    if mine is not None and _rank(mine) > _rank(seen):
        seen = mine
    try:
        step = controller().reconcile(body, seen)
    except (ApiException, HTTPError, OSError) as e:
        # The API server hiccupped: try again soon rather than sleeping in the handler.
        raise kopf.TemporaryError(f"API call failed: {e}", delay=5) from e
    for kind, reason, message in step.events:
        # kopf.event, not kopf.info: posting.level (WARNING) keeps kopf's per-tick logs out of the Events.
        kopf.event(body, type=kind, reason=reason, message=message)
    new = step.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    if new != {k: v for k, v in seen.items() if k != "kopf"}:
        patch.status.update(new)
        _written[uid] = new
    if step.delete_self:
        # ttlSecondsAfterFinished: delete only after this tick returns. kopf removes its finalizer once no timer
        # runs; a delete issued from inside the running timer can leave the finalizer waiting for another event.
        meta = body["metadata"]
        threading.Timer(0.5, _expire, args=(meta["namespace"], meta["name"], uid)).start()
    if new.get("phase"):
        _phases[uid] = new["phase"]
    metrics.set_phase_counts(dict(Counter(_phases.values())))


def _expire(namespace: str, name: str, uid: str) -> None:
    try:
        controller().kube.delete_videojob(namespace, name, uid)
    except (ApiException, HTTPError, OSError) as e:  # the next tick tries again
        log.warning("could not delete expired VideoJob %s/%s: %s", namespace, name, e)


_ORDER = {p: i for i, p in enumerate(["", "Pending", "Detecting", "Processing", "Finalizing"])}


def _rank(status: dict[str, Any]) -> tuple[int, int]:
    """How far a status has got: terminal phases outrank everything, then phase order, then segments done."""
    phase = status.get("phase") or ""
    segments = (status.get("segments") or {}).get("succeeded", 0)
    return (len(_ORDER) if phase in TERMINAL else _ORDER.get(phase, 0), segments)


@kopf.on.delete(api.GROUP, api.VERSION, api.PLURAL, optional=True)
def forget(namespace: str | None, name: str, uid: str, **_: Any) -> None:
    """Children carry owner references, so the garbage collector removes them in any case; deleting them here
    stops the GPU pods at once (the collector may take a while)."""
    assert namespace is not None  # VideoJobs are namespaced
    try:
        controller().kube.delete_children(
            namespace,
            child_name(name, "segments"),
            selector(name),
            [child_name(name, "detect"), child_name(name, "finalize")],
        )
    except (ApiException, HTTPError, OSError) as e:
        log.warning("could not delete the children of %s/%s now (the garbage collector will): %s", namespace, name, e)
    _written.pop(uid, None)
    _phases.pop(uid, None)
    metrics.forget(namespace, name)
    metrics.set_phase_counts(dict(Counter(_phases.values())))
