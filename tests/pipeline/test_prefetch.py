"""pipeline/prefetch.py: a producer thread ahead of the consumer, in order, its errors raised where they happened,
and stopped (its source closed in its own thread) when the consumer stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from videojob.pipeline.prefetch import prefetched


def test_every_item_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetched(source(), depth=3)) == list(range(100))
    assert threads == {"prefetch"}


def test_an_error_of_the_source_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("frame 3 cannot be decoded")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer_and_closes_the_source_there() -> None:
    closed_in: list[str] = []
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:  # where the decoder's container is closed
            closed_in.append(threading.current_thread().name)

    items = prefetched(source(), depth=2)
    assert next(items) == 0
    items.close()
    assert closed_in == ["prefetch"]
    assert len(produced) <= 5  # at most depth ahead (plus the one in hand), not the whole source
    assert not any(t.name == "prefetch" for t in threading.enumerate())


def test_a_consumer_that_fails_leaves_no_thread_behind() -> None:
    def source() -> Iterator[int]:
        yield from range(1000)

    with pytest.raises(RuntimeError):
        for item in prefetched(source()):
            if item == 5:
                raise RuntimeError("the encoder failed")
    assert not any(t.name == "prefetch" for t in threading.enumerate())
