"""Restart safety and cleanup: the operator resumes from its children; deleting a VideoJob removes them all."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_operator_killed_mid_processing_finishes_without_redoing_segments(kube, operator, videojobs) -> None:
    videojobs.clip(frames=96)
    videojobs.apply("resume", videojobs.spec(segments=4, maxParallelPods=1))
    kube.wait_for(
        "a finished segment",
        lambda: videojobs.status("resume").get("segments", {}).get("succeeded"),
        timeout=120,
        interval=0.2,
    )
    operator.kill()
    assert videojobs.status("resume")["phase"] == "Processing"
    segments = videojobs.workdir("resume") / "segments"
    # The Job goes on without the operator; finish it, then see nothing is redone.
    kube.wait_for(
        "the segment Job to complete",
        lambda: (videojobs.job("resume") or {}).get("status", {}).get("completedIndexes") == "0-3",
        timeout=120,
    )
    done = {p.name: p.stat().st_mtime_ns for p in segments.glob("seg-*.json")}
    assert len(done) == 4
    time.sleep(1)
    assert videojobs.status("resume")["phase"] == "Processing", "nobody moved it on while the operator was down"
    operator.start()
    st = videojobs.wait_phase("resume", "Succeeded", timeout=120)
    # Each segment ran once (the pod records below); the work directory went with the success (spec.keepWorkdir).
    assert not segments.exists()
    runs = Counter(r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("resume"))
    assert runs == Counter({"0": 1, "1": 1, "2": 1, "3": 1})
    assert len(videojobs.runs("resume", "detect")) == 1 and len(videojobs.runs("resume", "finalize")) == 1
    assert st["segments"]["succeeded"] == 4 and st["stageSeconds"]["process"] > 0
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 96


def test_operator_restarted_while_detecting_does_not_start_a_second_detect(kube, operator, videojobs) -> None:
    videojobs.clip(frames=48)
    videojobs.apply("early", videojobs.spec(segments=2))
    kube.wait_for("the detect pod", lambda: videojobs.runs("early", "detect"), interval=0.05)
    operator.kill()
    operator.start()
    videojobs.wait_phase("early", "Succeeded", timeout=120)
    assert len(videojobs.runs("early", "detect")) == 1


def lingering(kube, namespace: str, name: str) -> list[str]:
    """Children still alive. A pod that has stopped and awaits removal (deletionTimestamp set, phase terminal) is
    not counted: the pod runner does not always remove such objects as kubelet would (reported to the harness)."""
    out = kube.kubectl("get", "pods,jobs", "-n", namespace, "-l", f"videojob.dev/job={name}", "-o", "json")
    alive = []
    for item in json.loads(out.stdout)["items"]:
        gone = item["metadata"].get("deletionTimestamp") and item.get("status", {}).get("phase") in (
            "Succeeded",
            "Failed",
        )
        if item["kind"] == "Job" or not gone:
            alive.append(f"{item['kind']}/{item['metadata']['name']}")
    return alive


def test_deleting_a_running_videojob_leaves_no_children(kube, operator, videojobs) -> None:
    videojobs.clip(frames=96)
    videojobs.apply("doomed", videojobs.spec(segments=4, maxParallelPods=1))
    kube.wait_for(
        "a running segment pod", lambda: any(r.end is None for r in videojobs.runs("doomed")), timeout=90, interval=0.1
    )
    assert videojobs.children("doomed")
    kube.kubectl("delete", "videojob", "doomed", "-n", videojobs.namespace, "--wait=true", "--timeout=60s")
    kube.wait_for("every child to be gone", lambda: lingering(kube, videojobs.namespace, "doomed") == [], timeout=90)
    kube.wait_for("every process to stop", lambda: all(r.end is not None for r in videojobs.runs("doomed")), timeout=60)
    assert not (videojobs.volume / "out" / "clip.mp4").exists()
