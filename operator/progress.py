"""Frame-level progress of a VideoJob's segments, read from Redis (written by `videojob.worker.progress`).

Redis is optional and never load-bearing: when it is unreachable `read_progress` returns None and the
controller falls back to the Job's completed indexes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from videojob.common.redisurl import redact, where

log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 86400  # contracts.md: progress hashes expire after one day


def segment_key(job_key: str, index: int) -> str:
    """`videojob:<namespace>/<name>/<uid>:seg:<index>` (contracts.md)."""
    return f"videojob:{job_key}:seg:{index}"


def client(url: str) -> redis.Redis:
    """A Redis client that fails fast: one attempt, short timeouts (a tick must not wait on a dead Redis)."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 0), decode_responses=True
    )


@dataclass(frozen=True)
class SegmentProgress:
    frames: int
    total: int
    ts: float  # unix seconds of the worker's last write (its heartbeat)


@dataclass(frozen=True)
class Progress:
    segments: dict[int, SegmentProgress] = field(default_factory=dict)

    @property
    def frames_done(self) -> int:
        return sum(min(s.frames, s.total) if s.total else s.frames for s in self.segments.values())


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_down: set[str] = set()  # URLs we already warned about: one warning per outage, not one per tick


def _client_for(url: str) -> redis.Redis:
    with _clients_lock:
        found = _clients.get(url)
        if found is None:
            found = _clients[url] = client(url)
        return found


def _parse(raw: dict[str, str]) -> SegmentProgress | None:
    try:
        return SegmentProgress(frames=int(raw["frames"]), total=int(raw["total"]), ts=float(raw["ts"]))
    except (KeyError, ValueError):
        return None  # a hash some other writer left: ignore it rather than fail the tick


def read_progress(
    redis_url: str, job_key: str, total_segments: int, only: Iterable[int] | None = None
) -> Progress | None:
    """Each segment's last report (`only` these indexes: the active ones, a finished segment's count is known);
    None when Redis cannot be read (degrade, never fail)."""
    indexes = sorted(set(only)) if only is not None else list(range(total_segments))
    try:
        conn = _client_for(redis_url)
        pipe = conn.pipeline(transaction=False)
        for index in indexes:
            pipe.hgetall(segment_key(job_key, index))
        rows = pipe.execute() if indexes else []
    except (redis.RedisError, OSError, ValueError) as exc:
        if redis_url not in _down:
            _down.add(redis_url)
            log.warning(
                "progress from Redis at %s unavailable, using completed segments only: %s",
                where(redis_url),
                _one_line(exc, redis_url),
            )
        return None
    if redis_url in _down:
        _down.discard(redis_url)
        log.info("progress from Redis at %s available again", where(redis_url))
    segments: dict[int, SegmentProgress] = {}
    for index, raw in zip(indexes, rows, strict=True):
        parsed = _parse(raw) if raw else None
        if parsed is not None:
            segments[index] = parsed
    return Progress(segments=segments)


def delete_progress(redis_url: str, job_key: str, total_segments: int) -> int | None:
    """Remove a finished VideoJob's keys (they would otherwise live out their day); how many went, None when Redis
    cannot be reached (then they expire by themselves)."""
    keys = [segment_key(job_key, index) for index in range(total_segments)]
    try:
        return int(_client_for(redis_url).delete(*keys)) if keys else 0
    except (redis.RedisError, OSError, ValueError) as exc:
        log.warning(
            "could not delete the progress keys of %s from Redis at %s (they expire in a day): %s",
            job_key,
            where(redis_url),
            _one_line(exc, redis_url),
        )
        return None


def stalled(progress: Progress, now: float, after_seconds: float, active_indexes: Iterable[int]) -> list[int]:
    """Active segments whose heartbeat is older than `after_seconds`.

    A segment with no report yet is not stalled: its pod may still be waiting for a GPU (queue time is
    not a hang), and a worker writes its first report as soon as it starts decoding.
    """
    out = []
    for index in sorted(set(active_indexes)):
        seg = progress.segments.get(index)
        if seg is not None and now - seg.ts > after_seconds:
            out.append(index)
    return out


def _one_line(exc: BaseException, url: str) -> str:
    """The error on one line, with anything secret from the URL masked (redis-py may echo parts of it)."""
    return redact(" ".join(str(exc).split()) or type(exc).__name__, url)
