"""Worker → real Redis → operator progress: round trip, stall detection, and degrading when Redis dies."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from support.redis_server import RedisServer, secured_redis
from videojob.operator import progress
from videojob.worker.progress import KEY_TTL_SECONDS, RedisReporter

JOB = "team-a/clip-1"
__all__ = ["secured_redis"]


def test_round_trip_reports_frames_heartbeat_and_expiry(redis_server: RedisServer) -> None:
    before = time.time()
    a = RedisReporter(redis_server.url, JOB, 0, 100, interval=0.0)
    b = RedisReporter(redis_server.url, JOB, 2, 50, interval=0.0)
    for frames in range(0, 41, 4):
        a.update(frames)
    b.update(50)
    a.close()
    b.close()

    got = progress.read_progress(redis_server.url, JOB, total_segments=3)
    assert got is not None
    assert sorted(got.segments) == [0, 2]  # segment 1 never started: no entry, not zeros
    assert (got.segments[0].frames, got.segments[0].total) == (40, 100)
    assert (got.segments[2].frames, got.segments[2].total) == (50, 50)
    assert got.frames_done == 90
    assert before - 1 <= got.segments[0].ts <= time.time() + 1

    raw = redis.Redis.from_url(redis_server.url, decode_responses=True)
    key = f"videojob:{JOB}:seg:0"  # the key layout contracts.md promises
    assert raw.hgetall(key)["frames"] == "40"
    assert 0 < raw.ttl(key) <= KEY_TTL_SECONDS
    # Another job's keys are not mixed in.
    assert progress.read_progress(redis_server.url, "team-a/other", 3) == progress.Progress(segments={})
    raw.close()


def test_only_the_asked_segments_are_read_and_the_keys_go_at_the_end(redis_server: RedisServer) -> None:
    """The operator reads the active segments only, and deletes a job's keys when it ends (issue 12)."""
    for index in range(3):
        reporter = RedisReporter(redis_server.url, JOB, index, 10, interval=0.0)
        reporter.update(index + 1)
        reporter.close()
    other = RedisReporter(redis_server.url, "team-a/other", 0, 10, interval=0.0)
    other.update(5)
    other.close()
    got = progress.read_progress(redis_server.url, JOB, 3, only=[2, 0])
    assert got is not None and sorted(got.segments) == [0, 2] and got.frames_done == 1 + 3
    assert progress.read_progress(redis_server.url, JOB, 3, only=[]) == progress.Progress(segments={})
    assert progress.delete_progress(redis_server.url, JOB, 3) == 3
    assert progress.read_progress(redis_server.url, JOB, 3) == progress.Progress(segments={})
    assert progress.read_progress(redis_server.url, "team-a/other", 1).frames_done == 5  # another job's stay
    assert progress.delete_progress(redis_server.url, JOB, 3) == 0
    assert progress.delete_progress("redis://127.0.0.1:1/0", JOB, 3) is None  # unreachable: no exception


def test_writes_are_rate_limited_and_close_writes_the_last_count(redis_server: RedisServer) -> None:
    rep = RedisReporter(redis_server.url, JOB, 1, 10_000, interval=60.0)
    for frames in range(1, 5001):
        rep.update(frames)
    # The first write happens at construction (heartbeat as soon as the worker starts); updates within the
    # interval do not write again.
    assert rep.writes == 1
    mid = progress.read_progress(redis_server.url, JOB, 2)
    assert mid is not None and mid.segments[1].frames == 0
    rep.close()
    assert rep.writes == 2
    end = progress.read_progress(redis_server.url, JOB, 2)
    assert end is not None and end.segments[1].frames == 5000


def test_stalled_flags_only_active_segments_with_an_old_heartbeat(redis_server: RedisServer) -> None:
    for index in range(4):
        RedisReporter(redis_server.url, JOB, index, 10, interval=0.0).close()
    got = progress.read_progress(redis_server.url, JOB, 5)
    assert got is not None
    ts = got.segments[0].ts
    # Just written: nothing stalled.
    assert progress.stalled(got, ts + 1, after_seconds=30, active_indexes={0, 1, 2, 3, 4}) == []
    # Much later: every active segment that reported is stalled; finished (inactive) ones and segment 4,
    # which has not reported yet (its pod may be queued for a GPU), are not.
    assert progress.stalled(got, ts + 31, after_seconds=30, active_indexes={1, 3, 4}) == [1, 3]
    # A fresh heartbeat clears one.
    fresh = RedisReporter(redis_server.url, JOB, 3, 10, interval=0.0)
    fresh.update(5)
    fresh.close()
    later = progress.read_progress(redis_server.url, JOB, 5)
    assert later is not None
    now = later.segments[3].ts + 1
    assert progress.stalled(later, now, after_seconds=max(1.0, now - ts - 0.5), active_indexes={1, 3}) == [1]


def test_redis_killed_mid_job_degrades_progress_never_the_worker(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = RedisReporter(redis_server.url, JOB, 0, 1000, interval=0.0, retry_seconds=0.2)
    rep.update(10)
    assert progress.read_progress(redis_server.url, JOB, 1) is not None

    redis_server.kill()
    started = time.monotonic()
    for frames in range(11, 1000):
        rep.update(frames)  # must neither raise nor block on the dead server
    rep.update(1000)
    assert time.monotonic() - started < 5.0
    assert progress.read_progress(redis_server.url, JOB, 1) is None  # operator degrades: None, no exception
    assert progress.read_progress(redis_server.url, JOB, 1) is None
    warnings = [line for line in capsys.readouterr().err.splitlines() if "failed, continuing without it" in line]
    assert len(warnings) == 1, warnings  # one warning per outage, not one per frame

    # Redis comes back (empty: no persistence): the next writes land again.
    redis_server.start()
    time.sleep(0.25)  # past retry_seconds
    rep.update(1000)
    rep.close()
    back = progress.read_progress(redis_server.url, JOB, 1)
    assert back is not None and back.segments[0].frames == 1000


def test_unreachable_or_malformed_url_never_raises() -> None:
    # Nothing listens on port 1 of loopback; a bad scheme is rejected by redis-py at construction.
    for url in ("redis://127.0.0.1:1/0", "http://127.0.0.1:1/"):
        rep = RedisReporter(url, JOB, 0, 10, interval=0.0)
        rep.update(5)
        rep.close()
        assert progress.read_progress(url, JOB, 1) is None


def test_password_url_works_and_is_never_logged(
    secured_redis: RedisServer, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    password = secured_redis.password
    assert password and password in secured_redis.url
    rep = RedisReporter(secured_redis.url, JOB, 0, 10, interval=0.0)
    rep.update(4)
    rep.close()
    got = progress.read_progress(secured_redis.url, JOB, 1)
    assert got is not None and got.segments[0].frames == 4  # authenticated both ways

    caplog.set_level(logging.INFO, logger=progress.__name__)
    wrong = secured_redis.url.replace(password, "not-" + password)
    for url in (wrong, f"redis://:{password}@127.0.0.1:1/0", f"redis://127.0.0.1:1/0?password={password}"):
        bad = RedisReporter(url, JOB, 1, 10, interval=0.0)
        bad.update(1)
        bad.close()
        assert progress.read_progress(url, JOB, 1) is None
    secured_redis.kill()
    assert progress.read_progress(secured_redis.url, JOB, 1) is None
    secured_redis.start()
    assert progress.read_progress(secured_redis.url, JOB, 1) is not None  # "available again"

    err = capsys.readouterr().err
    logs = caplog.text
    assert err.count("progress to Redis at 127.0.0.1:") == 3, err  # where it failed: host and port
    assert "unavailable" in logs and "available again" in logs and f"127.0.0.1:{secured_redis.port}" in logs
    assert password not in err and password not in logs, (err, logs)
    assert progress.where(secured_redis.url) == f"127.0.0.1:{secured_redis.port}"
