"""Run an iterator in a thread of its own, a few items ahead of its consumer.

A segment's loop decodes a frame, edits it and hands it to the encoder, one after the other on one thread: while
it edits and encodes, the decoder waits, and while it decodes, the encoder's threads run dry. FFmpeg's own
command line runs its decoder and encoder on threads of their own; PyAV's decode and encode release the GIL, so
decoding (and, with a detector, detecting) in a thread ahead of the loop lets both run at once."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_END = object()


@dataclass
class _Raised:
    error: BaseException


def prefetched(items: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """The items of `items`, produced by a thread at most `depth` ahead. An exception in the producer is raised
    here, at the item where it happened. Closing this generator early (the consumer failed or stopped) stops the
    producer and closes `items` in its own thread (a generator is closed where it runs: its files close there)."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as e:  # handed to the consumer, which raises it
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put(_END)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
