"""Issue 12 D3: a spec over 256 KiB (a huge `affinity`), which `kubectl create` accepts, is processed and deletable.

kopf used to keep a copy of the whole spec in an annotation (at most 256 KiB for all of them): each of its
patches, the status included, was refused, the job never moved, and its finalizer kept it from being deleted."""

from __future__ import annotations

import json

import pytest
import yaml
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def big_affinity(terms: int = 5) -> dict:
    """A valid preferred node affinity of ~320 KiB inside the CRD's bounds (16 expressions of 64 values per term):
    label values of 62 characters that no node has."""

    def expression(t: int, e: int) -> dict:
        values = [f"v{t:02d}{e:02d}{i:02d}-{'x' * 55}" for i in range(64)]
        return {"key": f"videojob.test/never-{e}", "operator": "In", "values": values}

    preferred = [
        {"weight": 1, "preference": {"matchExpressions": [expression(t, e) for e in range(16)]}} for t in range(terms)
    ]
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}}


def test_a_spec_over_256_kib_is_processed_and_deletable(kube, operator, videojobs) -> None:
    videojobs.clip(frames=24)
    doc = {
        "apiVersion": "videojob.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "big", "namespace": videojobs.namespace},
        "spec": videojobs.spec(segments=1, affinity=big_affinity()),
    }
    assert len(json.dumps(doc["spec"])) > 300 * 1024
    kube.kubectl("create", "-f", "-", input=yaml.safe_dump(doc))  # `apply` would need a 300 KiB annotation
    videojobs.wait_phase("big", "Succeeded", timeout=150)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 24
    meta = videojobs.get("big")["metadata"]
    assert sum(len(k) + len(v) for k, v in (meta.get("annotations") or {}).items()) < 4096, "no copy of the spec"
    # Deletable (with the operator running, and the finalizer gone with the timer once the job ended).
    deleted = kube.kubectl("delete", "videojob", "big", "-n", videojobs.namespace, "--wait=true", "--timeout=30s")
    assert deleted.returncode == 0
    gone = kube.kubectl("get", "videojob", "big", "-n", videojobs.namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    # kopf could patch it all along: no refused patch of the object (a too long annotation) and its retries.
    assert "Too long" not in operator.logs() and "APIUnprocessableEntityError" not in operator.logs()


def test_a_big_running_job_can_be_deleted(kube, operator, videojobs) -> None:
    """Deleted while it runs (kopf's finalizer is on it then): gone at once with its children."""
    videojobs.clip(frames=24)
    doc = {
        "apiVersion": "videojob.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "big-live", "namespace": videojobs.namespace},
        "spec": videojobs.spec(segments=1, suspend=True, affinity=big_affinity()),
    }
    kube.kubectl("create", "-f", "-", input=yaml.safe_dump(doc))
    videojobs.wait_phase("big-live", "Processing", timeout=90)
    # kopf's finalizer is on it (its patch was accepted): the deletion runs the operator's on.delete, which stops
    # the children at once.
    assert "videojob.dev/kopf-finalizer" in videojobs.get("big-live")["metadata"].get("finalizers", [])
    deleted = kube.kubectl("delete", "videojob", "big-live", "-n", videojobs.namespace, "--wait=true", "--timeout=30s")
    assert deleted.returncode == 0
    kube.wait_for("its children to go", lambda: videojobs.children("big-live") == [], timeout=30)
