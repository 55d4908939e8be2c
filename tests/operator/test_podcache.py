"""The pod watch's cache: served only after a LIST seeded the selector, kept current by the watch, and repaired by
the next LIST (what a stalled watch missed)."""

from __future__ import annotations

import time

import pytest
from videojob.operator.jobcache import PodCache

SEL = "videojob.dev/job=a,videojob.dev/stage=segments"


def pod(name: str, job: str = "a", stage: str = "segments", phase: str = "Running") -> dict:
    labels = {"videojob.dev/job": job, "videojob.dev/stage": stage}
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": phase}}


def names(pods: list[dict] | None) -> list[str] | None:
    return None if pods is None else sorted(p["metadata"]["name"] for p in pods)


def test_not_served_before_a_list_seeded_the_selector() -> None:
    cache = PodCache(max_age=60)
    cache.put("ns", pod("a-0"))
    assert cache.get("ns", SEL) is None  # the watch may not have delivered every pod yet
    cache.seed("ns", SEL, [pod("a-0"), pod("a-1")], time.monotonic())
    assert names(cache.get("ns", SEL)) == ["a-0", "a-1"]
    assert cache.get("other", SEL) is None


def test_the_watch_keeps_a_seeded_selector_current_and_labels_select() -> None:
    cache = PodCache(max_age=60)
    cache.seed("ns", SEL, [pod("a-0")], time.monotonic())
    cache.put("ns", pod("a-1"))
    cache.put("ns", pod("a-detect", stage="detect"))
    cache.put("ns", pod("b-0", job="b"))
    cache.put("ns", pod("a-0", phase="Succeeded"))
    got = cache.get("ns", SEL)
    assert names(got) == ["a-0", "a-1"]
    assert {p["metadata"]["name"]: p["status"]["phase"] for p in got or []}["a-0"] == "Succeeded"
    cache.drop("ns", "a-1")
    assert names(cache.get("ns", SEL)) == ["a-0"]


def test_a_list_never_undoes_what_the_watch_delivered_after_it_began() -> None:
    cache = PodCache(max_age=60)
    listed_at = time.monotonic()
    cache.put("ns", pod("a-0", phase="Succeeded"))  # newer than the LIST's copy
    cache.drop("ns", "a-1")  # deleted after the LIST began
    cache.seed("ns", SEL, [pod("a-0"), pod("a-1")], listed_at)
    got = cache.get("ns", SEL)
    assert names(got) == ["a-0"] and (got or [{}])[0]["status"]["phase"] == "Succeeded"


def test_a_later_list_repairs_what_a_stalled_watch_missed() -> None:
    cache = PodCache(max_age=60)
    cache.seed("ns", SEL, [pod("a-0"), pod("a-1")], time.monotonic())
    # The watch missed a-1's deletion and a-0's success; the next LIST says so.
    cache.seed("ns", SEL, [pod("a-0", phase="Succeeded")], time.monotonic())
    got = cache.get("ns", SEL)
    assert names(got) == ["a-0"] and (got or [{}])[0]["status"]["phase"] == "Succeeded"


def test_a_seed_expires_so_the_caller_lists_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PodCache(max_age=60)
    cache.seed("ns", SEL, [pod("a-0")], time.monotonic())
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 61)
    assert cache.get("ns", SEL) is None


MANAGED = "app.kubernetes.io/managed-by=videojob-operator"


def managed(name: str, job: str = "a", stage: str = "segments") -> dict:
    p = pod(name, job, stage)
    p["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "videojob-operator"
    return p


def test_one_list_of_the_watchs_selector_seeds_every_selector_of_its_namespace() -> None:
    """The operator lists its watch's selector once per namespace, not each job's and stage's (213 of 1850
    requests with 50 jobs): every job's selector there is then served, other namespaces' are not."""
    cache = PodCache(max_age=60, covering=MANAGED)
    cache.seed(
        "ns", MANAGED, [managed("a-0"), managed("b-0", job="b"), managed("a-detect", stage="detect")], time.monotonic()
    )
    cache.put("ns", managed("a-1"))
    assert names(cache.get("ns", SEL)) == ["a-0", "a-1"]
    assert names(cache.get("ns", "videojob.dev/job=b")) == ["b-0"]
    assert names(cache.get("ns", "videojob.dev/job=c")) == []  # seeded: no pods yet, without a LIST
    assert cache.get("other", SEL) is None
    # A pod the watch does not cover (someone else's, with our job label) is never served from it.
    cache.put("ns", pod("a-foreign"))
    assert names(cache.get("ns", SEL)) == ["a-0", "a-1"]


def test_a_pod_seen_succeeded_before_the_jobs_sync_is_not_counted_running() -> None:
    """The Job controller batches its status: a segment pod's success is seen first, while the Job still counts it
    active. The status must not say `active: 1` next to every segment succeeded."""
    from videojob.operator.controller import _with_succeeded_pods
    from videojob.operator.observe import JobState

    js = JobState(
        completed={0, 1},
        failed=set(),
        active=1,
        ready=1,
        failed_pods=0,
        suspended=False,
        complete=False,
        failure=None,
        completions=3,
    )
    done = pod("a-2", phase="Succeeded")
    done["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": "2"}
    got = _with_succeeded_pods(js, [done])
    assert got.completed == {0, 1, 2} and got.complete and got.active == 0 and got.ready == 0


def test_a_job_read_again_after_max_age_is_served_from_the_cache_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet Job (pods pending for minutes, no watch event) was read with a GET on every round once its copy
    was older than max_age: 487 of 958 requests with 50 concurrent jobs. The GET's answer is kept."""
    from videojob.operator.jobcache import JobCache

    cache = JobCache(max_age=60)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache.put("ns", "j", {"metadata": {"resourceVersion": "1"}})
    now[0] += 61
    assert cache.get("ns", "j") is None  # too old: the caller GETs
    fetched_at = now[0]
    cache.refresh("ns", "j", {"metadata": {"resourceVersion": "2"}}, fetched_at)
    assert (cache.get("ns", "j") or {})["metadata"]["resourceVersion"] == "2"
    # A watch event that arrived while a GET was under way is newer than the GET's answer: it stays.
    now[0] += 1
    started = now[0]
    now[0] += 0.5
    cache.put("ns", "j", {"metadata": {"resourceVersion": "4"}})
    cache.refresh("ns", "j", {"metadata": {"resourceVersion": "3"}}, started)
    assert (cache.get("ns", "j") or {})["metadata"]["resourceVersion"] == "4"
