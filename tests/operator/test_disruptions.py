"""Segment pods that die: a crash is retried within the Job; an eviction (DisruptionTarget) costs no retry."""

from __future__ import annotations

import contextlib
import time
from collections import Counter

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def strike(kube, videojobs, name: str, action) -> str:
    """Catch a segment pod mid-run, apply `action(namespace, pod)` to it, and return its index.

    The process is paused (SIGSTOP) before the strike: a short segment could otherwise finish between our look
    and the moment the eviction or kill lands, and the test would then measure a pod that simply succeeded.
    It is resumed once the runner has passed the strike on (SIGKILL ended it, or the deletion's SIGTERM is queued).
    """
    runner = kube.control
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for run in videojobs.runs(name):
            if run.end is not None:
                continue
            try:
                runner.pause(videojobs.namespace, run.name)
            except LookupError:  # it finished between our look and the pause: take the next
                continue
            time.sleep(0.5)
            if run.end is not None:  # the SIGSTOP reached a process that had already exited
                continue
            action(videojobs.namespace, run.name)
            while run.end is None and run.terminating is None:
                assert time.monotonic() < deadline, f"the runner never passed the strike on to {run.name}"
                time.sleep(0.05)
            with contextlib.suppress(LookupError):  # a SIGKILL has ended it already
                runner.resume(videojobs.namespace, run.name)
            return run.env["JOB_COMPLETION_INDEX"]
        time.sleep(0.05)
    raise AssertionError("no segment pod was seen running")


def test_killed_segment_pod_is_retried_and_the_output_is_whole(kube, operator, videojobs) -> None:
    videojobs.clip(frames=144, width=320, height=240)
    videojobs.apply("crash", videojobs.spec(segments=4, maxParallelPods=2, retriesPerSegment=2))
    victim = strike(kube, videojobs, "crash", kube.control.kill)  # SIGKILL: exit 137, like the OOM killer
    st = videojobs.wait_phase("crash", "Succeeded", timeout=150)
    runs = Counter(r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("crash"))
    assert runs[victim] == 2, runs
    assert sorted(runs) == ["0", "1", "2", "3"]
    job = videojobs.job("crash")
    assert job is not None and job["status"]["failed"] == 1
    assert st["segments"]["succeeded"] == 4
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 144


def test_evicted_segment_pod_does_not_use_a_retry(kube, operator, videojobs) -> None:
    videojobs.clip(frames=144, width=320, height=240)
    # No retries at all: had the eviction counted as a failure, the Job (maxFailedIndexes 0) would fail.
    videojobs.apply("evict", videojobs.spec(segments=4, maxParallelPods=2, retriesPerSegment=0))
    victim = strike(kube, videojobs, "evict", kube.control.evict)
    videojobs.wait_phase("evict", "Succeeded", timeout=150)
    runs = Counter(r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("evict"))
    assert runs[victim] == 2, runs
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 144


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
