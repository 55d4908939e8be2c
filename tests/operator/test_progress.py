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


def redis_secret(kube, namespace: str, url: str, name: str = "redis-creds") -> dict:
    """The user's Secret with the Redis URL, and the VideoJob field that names it (spec.redis.urlSecretRef)."""
    kube.kubectl("create", "secret", "generic", name, f"--from-literal=url={url}", "-n", namespace)
    return {"redis": {"urlSecretRef": {"name": name, "key": "url"}}}


def seg_key(videojobs, name: str, index: int | str) -> str:
    """contracts.md: videojob:<namespace>/<name>/<uid>:seg:<index>."""
    uid = videojobs.get(name)["metadata"]["uid"]
    return f"videojob:{videojobs.namespace}/{name}/{uid}:seg:{index}"


def test_progress_from_the_users_secret_under_uid_keys_deleted_at_the_end(kube, operator, videojobs, secured_redis):
    """Issue 12 D10 and the Redis keys: the URL (password included) only in the user's Secret; the status shows
    frames a running segment reported to Redis; keys carry the uid and are gone once the job has ended; a job
    recreated under the same name starts from 0."""
    ref = redis_secret(kube, videojobs.namespace, secured_redis.url)
    videojobs.clip(frames=720, width=640, height=360)
    slow = {"encoder": "software", "preset": "veryslow"}  # seconds of work per segment: time to catch it mid-way
    videojobs.apply("live", videojobs.spec(segments=1, encode=slow, **ref))
    r = redis.Redis.from_url(secured_redis.local_url, decode_responses=True)
    index = hang_a_segment(kube, videojobs, "live", r, min_frames=1)  # paused mid-segment: its count stays partial
    key = seg_key(videojobs, "live", index)
    reported = int(r.hget(key, "frames"))
    assert 0 < reported < 720 and 0 < r.ttl(key) <= 86400

    def shown() -> dict | None:
        st = videojobs.status("live")
        return st if (st.get("frames") or {}).get("done", 0) >= reported else None

    st = kube.wait_for("the reported frames in status", shown, timeout=30)
    assert st["segments"]["succeeded"] == 0, "only Redis can have told the operator of those frames"
    run = next(run for run in videojobs.runs("live") if run.end is None)
    kube.control.resume(videojobs.namespace, run.name)
    st = videojobs.wait_phase("live", "Succeeded", timeout=150)
    assert st["frames"] == {"total": 720, "done": 720}
    kube.wait_for(
        "the job's Redis keys to go", lambda: not r.keys(f"videojob:{videojobs.namespace}/live/*"), timeout=30
    )

    refs = {run.secret_refs.get("VIDEOJOB_REDIS_URL") for run in videojobs.runs("live")}
    assert refs == {("redis-creds", "url")}
    ns = ("-n", videojobs.namespace)
    everything = kube.kubectl("get", "videojobs,jobs,pods", *ns, "-o", "json").stdout
    assert "redis://" not in everything and secured_redis.password not in everything
    assert secured_redis.password not in operator.logs()
    assert kube.kubectl("get", "secret", "live-progress", *ns, check=False).returncode != 0, "no copy of the URL"

    # Recreated under the same name (suspended: no segment runs): progress starts from 0, never at the old count.
    kube.kubectl("delete", "videojob", "live", *ns, "--wait=true")
    r.hset(f"videojob:{videojobs.namespace}/live:seg:0", mapping={"frames": 720, "total": 720, "ts": time.time()})
    videojobs.apply("live", videojobs.spec(segments=1, suspend=True, **ref))
    videojobs.wait_phase("live", "Processing", timeout=90)
    # A few operator ticks (VIDEOJOB_RESYNC_SECONDS=1), and longer than the 10 s a status of counts alone may be
    # held back (VIDEOJOB_STATUS_INTERVAL_SECONDS): an old count would be written by now.
    time.sleep(12)
    st = videojobs.status("live")
    assert st["frames"]["done"] == 0 and st["progress"] <= 5, st


def test_unreachable_redis_does_not_fail_the_job(kube, operator, videojobs, redis_server) -> None:
    videojobs.clip(frames=48)
    redis_server.kill()
    ref = redis_secret(kube, videojobs.namespace, redis_server.url)
    videojobs.apply("blind", videojobs.spec(segments=2, **ref))
    videojobs.wait_phase("blind", "Succeeded", timeout=150)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48


def hang_a_segment(kube, videojobs, name: str, r: redis.Redis, min_frames: int = 0) -> str:
    """SIGSTOP the first segment pod caught between its first heartbeat (with at least `min_frames` frames) and its
    last frame; returns its index."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for run in videojobs.runs(name):
            index = run.env["JOB_COMPLETION_INDEX"]
            seg = r.hgetall(seg_key(videojobs, name, index))
            if run.end is not None or not seg or not min_frames <= int(seg["frames"]) < int(seg["total"]):
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
    key = seg_key(videojobs, "hang", victim)
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
