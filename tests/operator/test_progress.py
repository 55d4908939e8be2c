"""Progress through Redis on the cluster: workers report per segment, the operator reads it; a dead Redis only
costs the live progress, never the job."""

from __future__ import annotations

import pytest
import redis
from support.redis_server import redis_server
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
__all__ = ["redis_server"]


def test_workers_report_progress_to_redis(operator, videojobs, redis_server) -> None:
    videojobs.clip(frames=72)
    videojobs.apply("live", videojobs.spec(segments=3, redisUrl=redis_server.url))
    st = videojobs.wait_phase("live", "Succeeded", timeout=150)
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
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
