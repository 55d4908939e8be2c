"""Frame progress and a heartbeat in Redis, when a Redis URL is configured. Redis trouble never fails a worker."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

log = logging.getLogger("videojob.worker")
KEY = "videojob:{job}:seg:{index}"
TTL_SECONDS = 86400


class RedisReporter:
    def __init__(self, url: str, job_key: str, index: int, min_interval: float = 1.0) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.key = KEY.format(job=job_key, index=index)
        self.min_interval = min_interval
        self.last = 0.0
        self.broken = False

    def update(self, frames: int, total: int) -> None:
        now = time.time()
        if self.broken or (now - self.last < self.min_interval and frames < total):
            return
        self.last = now
        try:
            pipe = self.client.pipeline()
            pipe.hset(self.key, mapping={"frames": frames, "total": total, "ts": f"{now:.3f}"})
            pipe.expire(self.key, TTL_SECONDS)
            pipe.execute()
        except Exception as exc:  # any Redis failure: progress degrades, the segment goes on
            log.warning("progress to Redis stopped: %s", exc)
            self.broken = True

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


class NoReporter:
    def update(self, frames: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass


def reporter_from_env(index: int) -> RedisReporter | NoReporter:
    url = os.environ.get("VIDEOJOB_REDIS_URL")
    if not url:
        return NoReporter()
    return RedisReporter(url, os.environ.get("VIDEOJOB_JOB_KEY", "unknown"), index)
