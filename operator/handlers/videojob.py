"""VideoJob handlers: a kopf daemon per live VideoJob drives the state machine in controller.py, woken by its
children's events (children.py); a watch keeps the phase counts and deletes finished VideoJobs after their
ttlSecondsAfterFinished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from .. import api, metrics
from ..controller import Controller, expires_at
from ..jobcache import JobCache, PodCache
from ..kube import Kube, configure
from ..naming import MANAGED_SELECTOR, child_name, selector
from ..settings import OperatorSettings
from ..status import TERMINAL
from ..statuswrites import StatusWrites
from . import wake

SETTINGS = OperatorSettings.from_env()
# Jobs as the watch saw them (children.py); a copy older than a few resync periods is read from the API again.
JOBS = JobCache(max_age=max(60.0, 6 * SETTINGS.resync_seconds))
# Pods as the watch saw them; a selector is listed again from the API this often (the repair of a stalled watch).
PODS = PodCache(max_age=max(60.0, 6 * SETTINGS.resync_seconds), covering=MANAGED_SELECTOR)
log = logging.getLogger("videojob.operator")
_controller: Controller | None = None
# Status this process wrote last, per uid: the watch may lag behind our own patch by a tick.
_written: dict[str, dict[str, Any]] = {}
# Status writes held back while only counts change (statuswrites.py).
_writes = StatusWrites(SETTINGS.status_interval_seconds)
# The generation each VideoJob's watch event had last: a new one (a spec change) wakes its loop at once.
_generations: dict[str, int | None] = {}
_phases: dict[str, str] = {}
_expiries: dict[str, threading.Timer] = {}
_lock = threading.Lock()


def controller() -> Controller:
    global _controller
    if _controller is None:
        configure()
        _controller = Controller(Kube(JOBS, PODS), SETTINGS)
    return _controller


def _live(status: kopf.Status, **_: Any) -> bool:
    """Only unfinished VideoJobs have a timer. kopf keeps its finalizer on an object while a timer matches it,
    so a finished VideoJob loses the finalizer and costs nothing (and stays deletable with no operator)."""
    phase = dict(status or {}).get("phase")
    return phase not in TERMINAL


@kopf.daemon(api.GROUP, api.VERSION, api.PLURAL, when=_live, initial_delay=0.0, cancellation_timeout=1.0)
async def drive(stopped: kopf.DaemonStopped, body: kopf.Body, uid: str, **_: Any) -> None:
    """One loop per live VideoJob: a reconcile, then a wait that a child's event (children.py) or a change of the
    VideoJob ends at once, or the resync period (the safety net) at the latest. The body is kopf's live view.
    Ends when the VideoJob does; kopf then drops its finalizer."""
    meta = body["metadata"]
    woken = wake.waiter(meta["namespace"], meta["name"])
    while not stopped:
        woken.clear()
        timeout: float | None = SETTINGS.resync_seconds
        try:
            pods = wake.take_pods_changed(meta["namespace"], meta["name"])
            timeout = await asyncio.to_thread(reconcile, body, uid, pods)
        except (ApiException, HTTPError, OSError) as e:
            # The API server hiccupped or refused the write: the next round tries again.
            metrics.reconcile_failed("api")  # videojob_reconcile_errors_total, videojob_api_errors_total
            log.warning("%s/%s: API call failed, retrying: %s", meta["namespace"], meta["name"], e)
        except Exception:
            metrics.reconcile_failed("internal")
            log.exception("%s/%s: reconcile failed, retrying", meta["namespace"], meta["name"])
        if timeout is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout=timeout)


def reconcile(body: kopf.Body, uid: str, pods_changed: bool = False) -> float | None:
    """One step of the state machine, its status written and then its Events posted. Returns the seconds until
    the next round at the latest (the resync, or sooner to write a held status); None once finished."""
    stored = _own_status(body)
    seen = stored
    mine = _writes.held(uid) or _written.get(uid)
    if mine is not None and _rank(mine) >= _rank(stored) and mine != stored:
        seen = mine  # ours is newer than the watch's copy (it lags our write by a tick), or held back unwritten
    meta = body["metadata"]
    step = controller().reconcile(body, seen, pods_changed=pods_changed)
    new = step.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    # Compared with what the API server holds, not with what we wrote: a write that failed is written again.
    # Written by us rather than through kopf's patch, whose failures are only logged: until this write
    # succeeds, `_written` keeps the last status that did, and the next round makes the same step again.
    if new == stored:
        _writes.unchanged(uid)
    else:
        wait = _writes.hold_for(uid, stored, new, bool(step.events))
        if wait > 0:  # only counts moved, and the last write was under the interval ago: written by then
            return min(wait, SETTINGS.resync_seconds)
        controller().kube.patch_status(meta["namespace"], meta["name"], uid, new)
        _written[uid] = new
        _writes.written(uid)
    for kind, reason, message in step.events:  # only once the status that goes with them is stored
        # kopf.event, not kopf.info: posting.level (WARNING) keeps kopf's per-tick logs out of the Events.
        kopf.event(body, type=kind, reason=reason, message=message)
    if new.get("phase"):
        _phases[uid] = new["phase"]
    metrics.set_phase_counts(dict(Counter(_phases.values())))
    return None if new.get("phase") in TERMINAL else SETTINGS.resync_seconds


@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
async def watch(event: kopf.RawEvent, body: kopf.Body, uid: str, **_: Any) -> None:
    """Every VideoJob, finished or not (a low-level watch: no finalizer, no stored state). A finished one with
    ttlSecondsAfterFinished is deleted when that has passed, also after an operator restart (the watch starts
    with a listing)."""
    meta = body["metadata"]
    if event.get("type") == "DELETED":
        _forget(uid)
        wake.forget(meta["namespace"], meta["name"])
        metrics.forget_job(meta["namespace"], meta["name"])
        return
    if _changed_by_others(uid, body):  # a spec change (suspend ...) acts at once; our own status write need not
        wake.wake_label(*wake.key(meta["namespace"], meta["name"]))
    metrics.observe_job(meta["namespace"], meta["name"], body.get("status"))
    phase = (body.get("status") or {}).get("phase")
    if phase:
        _phases[uid] = phase
        metrics.set_phase_counts(dict(Counter(_phases.values())))
    when = expires_at(body)
    if when is None:
        return
    delay = max(0.0, (when - datetime.now(UTC)).total_seconds())
    with _lock:
        if uid in _expiries:
            return
        timer = threading.Timer(delay, _expire, args=(meta["namespace"], meta["name"], uid))
        timer.daemon = True
        _expiries[uid] = timer
    timer.start()


def _expire(namespace: str, name: str, uid: str) -> None:
    try:
        controller().kube.delete_videojob(namespace, name, uid)
    except (ApiException, HTTPError, OSError) as e:
        log.warning("could not delete expired VideoJob %s/%s (the next event tries again): %s", namespace, name, e)
        with _lock:
            _expiries.pop(uid, None)


def _changed_by_others(uid: str, body: kopf.Body) -> bool:
    """Whether this event of a VideoJob shows more than the echo of our own status write: a new generation (its
    spec), its deletion, or a status other than the one this process wrote last."""
    meta = body["metadata"]
    generation, before = meta.get("generation"), _generations.get(uid, -1)
    _generations[uid] = generation
    return generation != before or bool(meta.get("deletionTimestamp")) or _own_status(body) != _written.get(uid)


def _own_status(body: kopf.Body) -> dict[str, Any]:
    """The VideoJob's status as this operator writes it: without kopf's own `status.kopf` bookkeeping."""
    return {k: v for k, v in dict(body.get("status") or {}).items() if k != "kopf"}


_ORDER = {p: i for i, p in enumerate(["", "Pending", "Detecting", "Processing", "Finalizing"])}


def _rank(status: dict[str, Any]) -> tuple[int, int]:
    """How far a status has got: terminal phases outrank everything, then phase order, then segments done."""
    phase = status.get("phase") or ""
    segments = (status.get("segments") or {}).get("succeeded", 0)
    return (len(_ORDER) if phase in TERMINAL else _ORDER.get(phase, 0), segments)


def _forget(uid: str) -> None:
    _written.pop(uid, None)
    _writes.forget(uid)
    _generations.pop(uid, None)
    _phases.pop(uid, None)
    with _lock:
        timer = _expiries.pop(uid, None)
    if timer is not None:
        timer.cancel()
    metrics.set_phase_counts(dict(Counter(_phases.values())))


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
    _forget(uid)
    metrics.forget(namespace, name)
