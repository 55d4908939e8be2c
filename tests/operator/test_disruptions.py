"""Segment pods that die: a crash is retried within the Job; an eviction (DisruptionTarget) costs no retry."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def strike(kube, videojobs, name: str, action) -> str:
    """Catch a segment pod whose container runs, apply `action(namespace, pod)` to it, and return its index.

    The strike lands within a fraction of a second of the container's start (the control waits for the container
    in containerd, not for the API to report it), while the worker is still importing or at work: segments of
    these clips take seconds; a strike the worker outran (it exited 0) is made again on another pod. No freezing
    first: a SIGTERM sent to a frozen container is lost (seen with containerd 1.6 and runc 1.1 on cgroup v1), where
    a real eviction's is not.
    """
    deadline = time.monotonic() + 60
    missed: set[str] = set()
    while time.monotonic() < deadline:
        for run in videojobs.runs(name):
            if run.end is not None or run.uid in missed:
                continue
            try:
                action(videojobs.namespace, run.name)
            except LookupError:  # it finished between our look and the strike: take the next
                continue
            while run.end is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if run.exit_code == 0:  # the worker finished before the signal reached it: not a strike
                missed.add(run.uid)
                continue
            return run.env["JOB_COMPLETION_INDEX"]
        time.sleep(0.02)
    raise AssertionError("no segment pod was struck while it ran")


def test_killed_segment_pod_is_retried_and_the_output_is_whole(kube, operator, videojobs) -> None:
    videojobs.clip(frames=192, width=640, height=360)
    videojobs.apply("crash", videojobs.spec(segments=4, maxParallelPods=2, retriesPerSegment=2))
    victim = strike(kube, videojobs, "crash", kube.control.kill)  # SIGKILL: exit 137, like the OOM killer
    st = videojobs.wait_phase("crash", "Succeeded", timeout=150)
    # The retry leaves a trace on the VideoJob (D12): counted in status, an Event naming the segment.
    assert st["segments"]["retries"] == 1, st["segments"]
    retried = [e for e in videojobs.events("crash") if e["reason"] == "Retrying"]
    assert [e["type"] for e in retried] == ["Warning"], retried
    assert retried[0]["message"].startswith(f"segment {victim} failed"), retried[0]["message"]
    runs = Counter(r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("crash"))
    assert runs[victim] == 2, (runs, [(r.name, r.exit_code, r.terminating) for r in videojobs.runs("evict")])
    assert sorted(runs) == ["0", "1", "2", "3"]
    job = videojobs.job("crash")
    assert job is not None and job["status"]["failed"] == 1
    assert st["segments"]["succeeded"] == 4
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 192


@pytest.mark.parametrize("disruption", ["evict", "preempt"])
def test_disrupted_segment_pod_does_not_use_a_retry(kube, operator, videojobs, disruption: str) -> None:
    """Eviction (the Eviction API) and preemption (the scheduler's DisruptionTarget, then a graceful delete): kubelet
    stops the worker with SIGTERM (exit 143), and the Job's podFailurePolicy ignores the disruption."""
    # Segments of 96 frames: long enough that a preemption (the scheduler's condition, then the kubelet's graceful
    # stop) lands while the worker is still at work, also on a loaded machine.
    videojobs.clip(frames=384, width=640, height=360)
    # No retries at all: had the disruption counted as a failure, the Job (maxFailedIndexes 0) would fail.
    videojobs.apply(disruption, videojobs.spec(segments=4, maxParallelPods=2, retriesPerSegment=0))
    victim = strike(kube, videojobs, disruption, getattr(kube.control, disruption))
    videojobs.wait_phase(disruption, "Succeeded", timeout=150)
    runs = videojobs.runs(disruption)
    struck = [r for r in runs if r.env["JOB_COMPLETION_INDEX"] == victim]
    assert [r.exit_code for r in struck] == [143, 0], [(r.name, r.exit_code) for r in runs]  # SIGTERM, then whole
    assert Counter(r.env["JOB_COMPLETION_INDEX"] for r in runs) == Counter({"0": 1, "1": 1, "2": 1, "3": 1, victim: 2})
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 384


def test_killed_detect_pod_is_replaced_and_counted(kube, operator, videojobs) -> None:
    videojobs.clip(frames=240, width=320, height=240)
    videojobs.apply("redetect", videojobs.spec(segments=2, retriesPerSegment=1))
    deadline = time.monotonic() + 60
    while True:  # SIGKILL the detect pod's process while it runs (exit 137: a crash, not bad input)
        running = [r for r in videojobs.runs("redetect", "detect") if r.end is None]
        if running:
            try:
                kube.control.kill(videojobs.namespace, running[0].name)
                break
            except LookupError:
                pass
        assert time.monotonic() < deadline, "the detect pod was never seen running"
        time.sleep(0.05)
    st = videojobs.wait_phase("redetect", "Succeeded", timeout=120)
    assert st["attempts"]["detect"] == 1
    assert len(videojobs.runs("redetect", "detect")) == 2
    assert any(e["reason"] == "Retrying" for e in videojobs.events("redetect"))
