"""Segment progress and heartbeat to Redis (read by `videojob.operator.progress`).

A worker must never fail or slow down because of Redis: writes are rate limited, every error is
swallowed (one warning per outage), and after a failure the reporter waits before trying again so a
dead Redis costs at most one fast-failing attempt every `retry_seconds`.
"""

from __future__ import annotations

import contextlib
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from videojob.common.redisurl import redact, where

KEY_TTL_SECONDS = 86400  # contracts.md: progress hashes expire after one day


def segment_key(job_key: str, index: int) -> str:
    """`videojob:<namespace>/<name>/<uid>:seg:<index>` (contracts.md; same as the operator's reader)."""
    return f"videojob:{job_key}:seg:{index}"


class RedisReporter:
    """`update(frames)` from the pipeline's progress callback; `close()` writes the final count."""

    def __init__(
        self,
        url: str,
        job_key: str,
        index: int,
        total: int,
        *,
        interval: float = 1.0,
        retry_seconds: float = 10.0,
    ) -> None:
        self.key = segment_key(job_key, index)
        self.url = url
        self.where = where(url)
        self.total = total
        self.interval = interval
        self.retry_seconds = retry_seconds
        self.frames = 0
        self.writes = 0  # successful writes (tests and logs)
        self._written_frames = -1
        self._next_write = 0.0  # monotonic time of the next allowed write
        self._failing = False
        self._client: redis.Redis | None = None
        try:
            # Lazy: from_url does not connect. One attempt, short timeouts.
            self._client = redis.Redis.from_url(
                url, socket_connect_timeout=1.0, socket_timeout=1.0, retry=Retry(NoBackoff(), 0)
            )
        except (ValueError, redis.RedisError) as exc:
            self._warn(exc)
        # First heartbeat at once: the operator sees the segment running before the first frame decodes.
        self._write(time.monotonic())

    def update(self, frames: int) -> None:
        self.frames = max(self.frames, frames)
        now = time.monotonic()
        if now >= self._next_write:
            self._write(now)

    def close(self) -> None:
        now = time.monotonic()
        if self.frames != self._written_frames and (not self._failing or now >= self._next_write):
            self._write(now)
        if self._client is not None:
            # Closing a broken connection must not fail the worker either.
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def _write(self, now: float) -> None:
        if self._client is None:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(self.key, mapping={"frames": self.frames, "total": self.total, "ts": f"{time.time():.3f}"})
            pipe.expire(self.key, KEY_TTL_SECONDS)
            pipe.execute()
        except Exception as exc:  # anything Redis throws: progress is optional, the segment is not
            self._warn(exc)
            self._next_write = now + self.retry_seconds
            return
        if self._failing:
            print(f"videojob-worker: progress to Redis at {self.where} resumed", file=sys.stderr)
            self._failing = False
        self.writes += 1
        self._written_frames = self.frames
        self._next_write = now + self.interval

    def _warn(self, exc: BaseException) -> None:
        if not self._failing:
            msg = " ".join(str(exc).split()) or type(exc).__name__
            msg = redact(msg, self.url)
            print(
                f"videojob-worker: progress to Redis at {self.where} failed, continuing without it: {msg}",
                file=sys.stderr,
            )
        self._failing = True
