"""The operator process: `kopf run -m videojob.operator.main --liveness=http://0.0.0.0:8080/healthz`.

One active replica: run it standalone (the chart's default, with a Recreate Deployment), or set
VIDEOJOB_PEERING=<name> for kopf peering between replicas (needs kopf's peering CRDs and RBAC for them).
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import kopf

from . import api, metrics, readiness
from .handlers import children, videojob  # noqa: F401  (registers the handlers)
from .handlers.videojob import SETTINGS, controller


class NoDiffBase(kopf.DiffBaseStorage):
    """No copy of the spec kept on the object (issue 12 D3).

    kopf's default keeps the whole spec as the last handled state, in an annotation, to tell on.update handlers
    what changed. Annotations may hold 256 KiB in all, a spec up to ~1.5 MiB: with a big `affinity` every patch
    kopf made (its finalizer, our status) was refused, and the VideoJob could be neither processed nor deleted.
    This operator has no create/update/resume/field handlers (a timer, a watch and on.delete, which need no diff;
    tests/operator/test_operator_main.py keeps it so), so the diff base is never read: nothing to keep, and
    nothing to build either. kopf builds one on every watch event of every resource it watches (a deep copy of
    the body less its status), for the pods and Jobs too: about a tenth of the operator's CPU with 50 jobs."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    # Watches that end before the API server or a load balancer drops them silently.
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 30
    # kopf's bookkeeping under our own prefix, in annotations: the status schema stays ours.
    settings.persistence.finalizer = f"{api.GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=api.GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    # Events: only ours (kopf.info/warn) and kopf's warnings; not one per timer tick.
    settings.posting.level = logging.WARNING
    settings.scanning.disabled = True  # no cluster-wide CRD/namespace watching: fewer RBAC rights
    if SETTINGS.peering:
        settings.peering.name = SETTINGS.peering
        settings.peering.mandatory = True
    else:
        settings.peering.standalone = True
    controller()  # load credentials now: a broken kubeconfig fails the start, not the first job
    if SETTINGS.metrics_port:
        metrics.serve(SETTINGS.metrics_port)
    metrics.operator_started(_version())
    # /readyz for the readinessProbe (the chart sets the port; 0, the default, serves none): see readiness.py.
    if ready_port := int(os.environ.get("VIDEOJOB_READY_PORT") or 0):
        readiness.serve(ready_port, readiness.Readiness(readiness.api_server_check))
    logger.info("videojob operator: worker image %s, resync every %ss", SETTINGS.worker_image, SETTINGS.resync_seconds)


@kopf.on.probe(id="now")
def liveness_time(**_: Any) -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("videojob")
    except PackageNotFoundError:
        return "unknown"
