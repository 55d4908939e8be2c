"""Pool mode on the real node: P warm workers claim the segments of one VideoJob from the shared work directory."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def messages(kube, videojobs, name: str) -> dict[str, dict[str, Any]]:
    """Pod name -> its termination message, for the segment Job's pods still there."""
    core = client.CoreV1Api(kube.api_client())
    out = {}
    for pod in core.list_namespaced_pod(videojobs.namespace, label_selector=f"videojob.dev/job={name}").items:
        for cs in pod.status.container_statuses or []:
            term = cs.state.terminated
            if term is not None and term.message and pod.metadata.name.startswith(f"{name}-segments"):
                out[pod.metadata.name] = json.loads(term.message)
    return out


def test_pool_mode_runs_two_workers_for_twelve_segments(kube, operator, videojobs) -> None:
    videojobs.clip(frames=144)
    # mode auto: 12 segments > 2 x maxParallelPods, so pool.
    videojobs.apply("pool", videojobs.spec(segments=12, maxParallelPods=2, mode="auto"))
    st = videojobs.wait_phase("pool", "Succeeded", timeout=180)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 144
    assert st["segments"]["total"] == 12 and st["segments"]["succeeded"] == 12
    assert st["frames"] == {"total": 144, "done": 144}
    runs = videojobs.runs("pool")
    assert len(runs) == 2 and sorted(r.env["JOB_COMPLETION_INDEX"] for r in runs) == ["0", "1"]
    job = videojobs.job("pool")
    assert job is not None and job["spec"]["completions"] == 2
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "pool"
    # Each segment encoded exactly once, over both workers.
    found = messages(kube, videojobs, "pool")
    assert len(found) == 2, found
    assert sum(m["segments"] for m in found.values()) == 12 and sum(m["frames"] for m in found.values()) == 144
    assert all(m["skipped"] == 0 for m in found.values()), found
    assert "pool workers" in next(e["message"] for e in videojobs.events("pool") if e["reason"] == "SegmentsStarted")


def held_claim(workdir: Path) -> tuple[str, int] | None:
    """(pod name, segment) of a claim being worked on now."""
    for path in sorted((workdir / "claims").glob("seg-*.claim")):
        try:
            claim = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if claim.get("state") == "held":
            return claim["holder"].split("/")[0], int(path.name[4:9])
    return None


def test_killed_pool_worker_has_its_segment_taken_over(kube, operator, videojobs) -> None:
    videojobs.clip(frames=192, width=640, height=360)
    spec = videojobs.spec(segments=12, maxParallelPods=2, retriesPerSegment=2, mode="pool", keepWorkdir=True)
    videojobs.apply("steal", spec)
    videojobs.wait_phase("steal", "Processing", timeout=90)
    workdir = videojobs.workdir("steal")
    victim: tuple[str, int] | None = None
    deadline = time.monotonic() + 90
    while victim is None and time.monotonic() < deadline:
        victim = held_claim(workdir)
        time.sleep(0.05)
    assert victim is not None, "no pool worker claimed a segment"
    pod, segment = victim
    kube.control.kill(videojobs.namespace, pod)  # SIGKILL mid-segment: its claim stays, its heartbeat stops
    st = videojobs.wait_phase("steal", "Succeeded", timeout=240)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 192
    runs = videojobs.runs("steal")
    killed = [r for r in runs if r.name == pod]
    assert killed and killed[0].exit_code == 137
    assert len(runs) == 3, [(r.name, r.exit_code) for r in runs]  # the two workers and the killed one's replacement
    # The segment it held was finished by another worker: a whole, recorded result, and no claim left behind.
    result = json.loads((workdir / "segments" / f"seg-{segment:05d}.json").read_text())
    assert result["index"] == segment and result["frames"] == result["end"] - result["start"] > 0
    assert not list((workdir / "claims").glob("*.claim"))
    assert st["segments"]["succeeded"] == 12
    retried = [e for e in videojobs.events("steal") if e["reason"] == "Retrying"]
    assert len(retried) == 1, retried
