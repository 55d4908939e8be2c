"""Issue 13 on the real node: the operator reacts to its children's events (stage hand-offs within a watch
event, not a resync period) and in steady Processing makes at most one API request per job per 10 s (counted in
the API server's audit log)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cluster.audit import requests

from .conftest import Operator

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
OPERATOR_USER = "system:serviceaccount:videojob-system:videojob-operator"


def test_stages_hand_over_on_events_not_on_the_resync(kube, namespace, operator_kubeconfig, videojobs, tmp_path: Path):
    """With a resync of 10 minutes, only the children's watch events can move a job through its three stages."""
    op = Operator(kube, namespace, operator_kubeconfig, tmp_path / "operator", env={"VIDEOJOB_RESYNC_SECONDS": "600"})
    op.start()
    try:
        videojobs.clip(frames=48)
        t0 = time.monotonic()
        videojobs.apply("quick", videojobs.spec(segments=2))
        videojobs.wait_phase("quick", "Succeeded", timeout=120)
        assert time.monotonic() - t0 < 120
    finally:
        kube.kubectl("delete", "videojobs", "--all", "-n", namespace, "--wait=true", "--timeout=60s", check=False)
        op.stop()


def test_steady_processing_costs_at_most_one_request_per_ten_seconds(
    kube, namespace, operator_kubeconfig, videojobs, tmp_path: Path
):
    op = Operator(kube, namespace, operator_kubeconfig, tmp_path / "operator", env={"VIDEOJOB_RESYNC_SECONDS": "10"})
    op.start()
    try:
        # One segment that works for a while: a minute of 720p.
        videojobs.clip(frames=1500, width=1280, height=720)
        videojobs.apply("steady", videojobs.spec(segments=1))

        def running() -> bool:
            return any(r.end is None and r.start is not None for r in videojobs.runs("steady"))

        kube.wait_for("the segment container to run", running, timeout=120, interval=0.2)
        time.sleep(2)  # the start's own events (pod Running, Job ready count) are not steady state
        since = time.time()
        window = 0.0
        while videojobs.status("steady").get("phase") == "Processing" and window < 40:
            time.sleep(1)
            window = time.time() - since
        until = time.time()
        assert window >= 10, f"the segment ran only {window:.1f}s after it started: too short to measure"
        seen = [
            r
            for r in requests(kube.plane.audit_log, OPERATOR_USER, since, until)
            if r.namespace == namespace and r.verb != "watch"
        ]
        # Finishing the stage may cost its own requests in the last second: count the steady part only.
        steady = [r for r in seen if r.at < until - 2]
        allowed = max(1, int((until - 2 - since) // 10))
        assert len(steady) <= allowed, (round(until - since, 1), [(r.verb, r.resource, r.name) for r in steady])
    finally:
        kube.kubectl("delete", "videojobs", "--all", "-n", namespace, "--wait=true", "--timeout=60s", check=False)
        op.stop()
