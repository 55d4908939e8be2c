"""Watches on what the VideoJobs own: their Jobs and the Jobs' pods (by the labels the builders set). A change
wakes the owning VideoJob's loop (videojob.py), which reconciles level-triggered as always; the periodic resync
stays as the safety net. The Jobs and pods seen are cached, so that a round reads them without a GET or LIST."""

from __future__ import annotations

from typing import Any

import kopf

from .. import api
from ..naming import MANAGED_BY  # on every child of every VideoJob (naming.labels)
from . import wake
from .videojob import JOBS, PODS

_JOB_LABEL = f"{api.GROUP}/job"


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
async def job_changed(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> None:
    assert namespace is not None and name is not None
    if event.get("type") == "DELETED":
        JOBS.drop(namespace, name)
    else:
        JOBS.put(namespace, name, dict(event.get("object") or body))
    wake.wake_label(namespace, (body.get("metadata") or {}).get("labels", {}).get(_JOB_LABEL, ""))


@kopf.on.event("", "v1", "pods", labels=MANAGED_BY)
async def pod_changed(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    assert namespace is not None
    if event.get("type") == "DELETED":
        PODS.drop(namespace, (body.get("metadata") or {}).get("name", ""))
    else:
        PODS.put(namespace, dict(event.get("object") or body))
    # A pod that ended is seen here before its Job's status says so (the Job controller batches its syncs):
    # the woken round reads the pods, and a stage hands over on the pod's end.
    wake.wake_label(namespace, (body.get("metadata") or {}).get("labels", {}).get(_JOB_LABEL, ""), pods=True)
