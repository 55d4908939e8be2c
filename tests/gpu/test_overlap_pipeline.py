"""The batched, overlapped path on the CPU: same frames as a sequential loop, the CPU path's pixels outside the
boxes bit for bit, errors from any stage surface in the caller, and the stages really run at the same time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from support.media import make_clip
from videojob.pipeline.config import OperationConfig
from videojob.pipeline.detect.regions import Box
from videojob.pipeline.gpu.overlap import prefetch, run_overlapped
from videojob.pipeline.gpu.process import process_frames_batched
from videojob.pipeline.yuvops import edit_frame, plane_view

Planes = list[np.ndarray]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("gpu") / "clip.mp4", 160, 120, frames=30, audio=False)


def decoded(path: Path) -> Iterator[tuple[int, av.VideoFrame]]:
    with av.open(str(path)) as container:
        yield from enumerate(container.decode(video=0))


def boxes_for(i: int) -> list[Box]:
    # Moving odd-cornered boxes on two of every three frames; a second box overlapping the first on some.
    if i % 3 == 0:
        return []
    extra = [Box(x0=60, y0=50, x1=101, y1=93)] if i % 2 else []
    # Sometimes one past the bottom-right corner: clipped, and its window ends at the frame's edge.
    corner = [Box(x0=140, y0=90, x1=170, y1=130)] if i % 5 == 1 else []
    return [Box(x0=5 + i, y0=21, x1=66 + i, y1=60), *extra, *corner]


def planes(frame: av.VideoFrame) -> Planes:
    return [plane_view(p).copy() for p in frame.planes]


def run(path: Path, op: OperationConfig, batch_size: int, overlap: bool) -> dict[int, Planes]:
    got: dict[int, Planes] = {}
    order: list[int] = []

    def sink(i: int, frame: av.VideoFrame) -> None:
        order.append(i)
        got[i] = planes(frame)

    stats = process_frames_batched(
        decoded(path), boxes_for, op, sink, batch_size=batch_size, device="cpu", overlap=overlap
    )
    assert order == list(range(30)), "frames reached the encoder out of order or went missing"
    assert stats.frames == 30 and stats.frames_with_regions == 20
    return got


@pytest.mark.parametrize("kind", ["blur", "pixelate", "fill", "inpaint"])
def test_overlapped_equals_sequential_and_cpu_path(clip: Path, kind: str) -> None:
    op = OperationConfig(kind=kind, fill_color=(200, 30, 90))
    overlapped = run(clip, op, batch_size=4, overlap=True)
    sequential = run(clip, op, batch_size=1, overlap=False)
    for i, frame in decoded(clip):
        for a, b in zip(overlapped[i], sequential[i], strict=True):
            assert np.array_equal(a, b), f"frame {i}: batched+overlapped differs from one-at-a-time"
        source = planes(frame)
        outside = np.ones(source[0].shape, bool)
        for b in boxes_for(i):
            outside[b.y0 : min(b.y1, 120), b.x0 : min(b.x1, 160)] = False
        assert np.array_equal(overlapped[i][0][outside], source[0][outside]), f"frame {i}: luma outside changed"
        if not boxes_for(i):
            assert all(np.array_equal(a, b) for a, b in zip(overlapped[i], source, strict=True))
            continue
        assert not np.array_equal(overlapped[i][0], source[0]), f"frame {i}: nothing was edited"
        if kind != "inpaint":  # the GPU inpaint is a different algorithm (see test_gpu_ops_parity)
            clipped = [c for b in boxes_for(i) if (c := b.clipped(160, 120)) is not None]  # as the timeline gives
            cpu = planes(edit_frame(frame, clipped, op))
            for k, (a, b) in enumerate(zip(overlapped[i], cpu, strict=True)):
                # Colour conversion on the device vs swscale: within 3 levels of luma, 2 of chroma. Where boxes
                # overlap the CPU path converts the shared pixels twice (once per box), so a little more there.
                limit = (3 if k == 0 else 2) * (2 if len(boxes_for(i)) > 1 else 1)
                diff = np.abs(a.astype(int) - b)
                assert diff.max() <= limit, f"frame {i} plane {k}: max diff {diff.max()}"
                assert diff.mean() <= 0.5, f"frame {i} plane {k}: mean diff {diff.mean():.2f}"


def test_stages_run_concurrently() -> None:
    """The source cannot produce item 1 until the sink has item 0: a sequential loop would deadlock here."""
    sunk = threading.Event()
    seen: list[int] = []

    def source() -> Iterator[int]:
        yield 0
        assert sunk.wait(10), "the encode stage did not receive the first item while decoding went on"
        yield 1

    def sink(x: int) -> None:
        seen.append(x)
        sunk.set()

    run_overlapped(source(), lambda x: x * 10, sink, depth=1)
    assert seen == [0, 10]


class Boom(Exception):
    pass


@pytest.mark.parametrize("stage", ["source", "transform", "sink"])
def test_error_in_any_stage_reaches_the_caller_and_threads_end(stage: str) -> None:
    before = set(threading.enumerate())
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                if stage == "source" and i == 5:
                    raise Boom("source")
                yield i
        finally:
            closed.set()

    def transform(x: int) -> int:
        if stage == "transform" and x == 5:
            raise Boom("transform")
        return x

    def sink(x: int) -> None:
        if stage == "sink" and x == 5:
            raise Boom("sink")

    with pytest.raises(Boom, match=stage):
        run_overlapped(source(), transform, sink, depth=2)
    assert closed.is_set(), "the source was not closed"
    assert not _stage_threads_started_since(before)


def test_prefetch_keeps_order_and_stops_when_abandoned() -> None:
    before = set(threading.enumerate())
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))
    it = prefetch(iter(range(10_000)), depth=2)
    assert next(it) == 0
    it.close()
    assert not _stage_threads_started_since(before)


def _stage_threads_started_since(before: set[threading.Thread]) -> list[str]:
    """Our stage threads (named videojob-*) started since `before` and still alive. Counting every thread would
    also count those other parts of the test session start and end meanwhile (the cluster harness's pod runner)."""
    return [t.name for t in threading.enumerate() if t not in before and t.name.startswith("videojob-")]
