"""Progress through Redis on the cluster: workers report per segment, the operator reads it; a dead Redis only
costs the live progress, never the job; a segment whose heartbeat stops is restarted."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter

import pytest
import redis
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_workers_report_progress_to_redis(operator, videojobs, redis_server) -> None:
    videojobs.clip(frames=72)
    videojobs.apply("live", videojobs.spec(segments=3, redisUrl=redis_server.url))
    st = videojobs.wait_phase("live", "Succeeded", timeout=150)
    r = redis.Redis.from_url(redis_server.local_url, decode_responses=True)
    frames = 0
    for index in range(3):
        seg = r.hgetall(f"videojob:{videojobs.namespace}/live:seg:{index}")
        assert seg and int(seg["frames"]) == int(seg["total"]) > 0, seg
        assert 0 < r.ttl(f"videojob:{videojobs.namespace}/live:seg:{index}") <= 86400
        frames += int(seg["frames"])
    assert frames == 72 and st["frames"] == {"total": 72, "done": 72}


def test_unreachable_redis_does_not_fail_the_job(operator, videojobs, redis_server) -> None:
    videojobs.clip(frames=48)
    redis_server.kill()
    videojobs.apply("blind", videojobs.spec(segments=2, redisUrl=redis_server.url))
    videojobs.wait_phase("blind", "Succeeded", timeout=150)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48


def hang_a_segment(kube, videojobs, name: str, r: redis.Redis) -> str:
    """SIGSTOP the first segment pod caught between its first heartbeat and its last frame; returns its index."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for run in videojobs.runs(name):
            index = run.env["JOB_COMPLETION_INDEX"]
            seg = r.hgetall(f"videojob:{videojobs.namespace}/{name}:seg:{index}")
            if run.end is not None or not seg or int(seg["frames"]) >= int(seg["total"]):
                continue
            try:
                kube.control.pause(videojobs.namespace, run.name)
            except LookupError:
                continue
            time.sleep(0.5)
            if run.end is None:  # stopped while still at work, not in its last instant
                return index
        time.sleep(0.02)
    raise AssertionError("no segment pod was caught running after its first heartbeat")


def test_stalled_segment_pod_is_replaced_and_the_job_succeeds(kube, operator, videojobs, secured_redis) -> None:
    # The operator's own Redis URL, with a password, as the chart sets it; segments silent for 3 s are stalled.
    operator.stop()
    operator.env.update(VIDEOJOB_REDIS_URL=secured_redis.url, VIDEOJOB_STALL_SECONDS="3")
    operator.start()
    videojobs.clip(frames=192, width=640, height=360)
    # One retry per segment: the stall uses it; a second (the replacement declared stalled for its predecessor's
    # old heartbeat) would fail the job.
    videojobs.apply("hang", videojobs.spec(segments=2, maxParallelPods=2, retriesPerSegment=1))
    r = redis.Redis.from_url(secured_redis.local_url, decode_responses=True)
    victim = hang_a_segment(kube, videojobs, "hang", r)
    key = f"videojob:{videojobs.namespace}/hang:seg:{victim}"
    last_beat = r.hget(key, "ts")

    # The replacement, held before its first heartbeat for longer than the stall time: the old heartbeat is not
    # its own, so it must not be deleted for it.
    def replacement():
        found = [run for run in videojobs.runs("hang") if run.env["JOB_COMPLETION_INDEX"] == victim][1:]
        return found[0] if found else None

    second = kube.wait_for("the stalled segment's replacement", replacement, timeout=90, interval=0.02)
    kube.control.pause(videojobs.namespace, second.name)
    assert r.hget(key, "ts") == last_beat, "the replacement reported before it was paused: the check below is moot"
    time.sleep(3 + 4)  # stall time plus a few operator ticks
    assert second.end is None, "the replacement was deleted for its predecessor's old heartbeat"
    kube.control.resume(videojobs.namespace, second.name)

    st = videojobs.wait_phase("hang", "Succeeded", timeout=150)
    runs = Counter(run.env["JOB_COMPLETION_INDEX"] for run in videojobs.runs("hang"))
    assert runs == Counter({victim: 2, str(1 - int(victim)): 1}), runs
    job = videojobs.job("hang")
    assert job is not None and job["status"]["failed"] == 1  # the stall cost the index one retry
    stalled = [e for e in videojobs.events("hang") if e["reason"] == "Stalled"]
    assert len(stalled) == 1 and stalled[0].get("count", 1) == 1, stalled  # once per restart, not per tick
    assert f"segment {victim} sent no progress" in stalled[0]["message"]
    assert st["frames"] == {"total": 192, "done": 192}
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 192

    # The password reached the segment pods through the job's Secret, never in a pod or Job spec.
    # (kubelet resolved it in the containers: their heartbeats reached Redis, or the stall would not be seen)
    refs = {run.secret_refs.get("VIDEOJOB_REDIS_URL") for run in videojobs.runs("hang")}
    assert refs == {("hang-progress", "redis-url")}
    assert not [r for r in videojobs.runs("hang", "detect") if "VIDEOJOB_REDIS_URL" in {**r.env, **r.secret_refs}]
    ns = ("-n", videojobs.namespace)
    pods = kube.kubectl("get", "pods", *ns, "-l", "videojob.dev/job=hang", "-o", "json").stdout
    assert secured_redis.password not in pods and secured_redis.password not in json.dumps(job)
    secret = json.loads(kube.kubectl("get", "secret", "hang-progress", *ns, "-o", "json").stdout)
    assert base64.b64decode(secret["data"]["redis-url"]).decode() == secured_redis.url
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "VideoJob",
        "hang",
        videojobs.get("hang")["metadata"]["uid"],
    )
    assert secured_redis.password not in operator.logs()
