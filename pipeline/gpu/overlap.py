"""Three stages at once: a producer thread (decode + upload), the calling thread (GPU work), a consumer thread (encode).

Queues between the stages are bounded, so a slow stage throttles the others instead of filling memory, and the
GPU stage never waits for a decode or an encode that could have happened meanwhile. The first error in any stage
stops all three and is raised in the caller; the source iterator is closed in its own thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

_END = object()
_POLL = 0.1


class _Stop(Exception):
    pass


class _Link:
    """A bounded queue whose blocking calls give up once the pipeline is stopping."""

    def __init__(self, depth: int, stop: threading.Event) -> None:
        self.q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.stop = stop

    def put(self, item: Any, force: bool = False) -> None:
        while True:
            if self.stop.is_set() and not force:
                raise _Stop
            try:
                self.q.put(item, timeout=_POLL)
                return
            except queue.Full:
                if force and self.stop.is_set():
                    self._drop_one()

    def _drop_one(self) -> None:
        with contextlib.suppress(queue.Empty):
            self.q.get_nowait()

    def get(self) -> Any:
        while True:
            try:
                return self.q.get(timeout=_POLL)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stop from None


def _produce(source: Iterable[Any], link: _Link, errors: list[BaseException]) -> None:
    it = iter(source)
    try:
        for item in it:
            link.put(item)
    except _Stop:
        pass
    except BaseException as exc:  # handed to the caller's thread
        errors.append(exc)
        link.stop.set()
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()  # a generator's `with av.open(...)` exits here, in the thread that entered it
        link.put(_END, force=True)


def _consume(sink: Callable[[Any], None], link: _Link, errors: list[BaseException]) -> None:
    try:
        while (item := link.get()) is not _END:
            sink(item)
    except _Stop:
        pass
    except BaseException as exc:
        errors.append(exc)
        link.stop.set()


def run_overlapped(source: Iterable[T], transform: Callable[[T], U], sink: Callable[[U], None], depth: int = 2) -> None:
    """For each item of source, in order: sink(transform(item)); the three run concurrently."""
    stop = threading.Event()
    errors: list[BaseException] = []
    inbox, outbox = _Link(depth, stop), _Link(depth, stop)
    producer = threading.Thread(target=_produce, args=(source, inbox, errors), name="videojob-decode", daemon=True)
    consumer = threading.Thread(target=_consume, args=(sink, outbox, errors), name="videojob-encode", daemon=True)
    producer.start()
    consumer.start()
    try:
        while (item := inbox.get()) is not _END:
            outbox.put(transform(item))
        outbox.put(_END)
    except _Stop:
        pass
    except BaseException as exc:
        errors.insert(0, exc)
        stop.set()
    finally:
        if errors:
            stop.set()
        consumer.join()
        stop.set()  # a producer still running (caller failed, or consumer stopped early) gives up
        producer.join()
    if errors:
        raise errors[0]


def prefetch(source: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate `source` in a background thread, up to `depth` items ahead of the consumer."""
    stop = threading.Event()
    errors: list[BaseException] = []
    link = _Link(depth, stop)
    producer = threading.Thread(target=_produce, args=(source, link, errors), name="videojob-prefetch", daemon=True)
    producer.start()
    try:
        while (item := link.get()) is not _END:
            yield item
    except _Stop:
        pass
    finally:
        stop.set()
        producer.join()
    if errors:
        raise errors[0]
