"""Region operations on real decoded frames: inside the boxes changed as asked, outside untouched to the bit."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from support.media import make_clip
from videojob.pipeline.config import OperationConfig
from videojob.pipeline.detect import Box
from videojob.pipeline.yuvops import edit_frame, plane_view

# 254x150: a height that is not a multiple of 4 and odd box corners catch plane-layout and chroma-rounding slips.
WIDTH, HEIGHT = 254, 150
BOXES = [Box(x0=31, y0=17, x1=111, y1=83), Box(x0=150, y0=91, x1=201, y1=140)]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[av.VideoFrame]:
    clip = make_clip(tmp_path_factory.mktemp("ops") / "c.mp4", WIDTH, HEIGHT, frames=3, audio=False)
    with av.open(str(clip)) as c:
        return list(c.decode(video=0))


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    return [plane_view(p).copy() for p in frame.planes]


def masks() -> tuple[np.ndarray, np.ndarray]:
    """True where any box touches: luma at full size, chroma at half size (rounded outwards)."""
    luma = np.zeros((HEIGHT, WIDTH), bool)
    chroma = np.zeros(((HEIGHT + 1) // 2, (WIDTH + 1) // 2), bool)
    for b in BOXES:
        luma[b.y0 : b.y1, b.x0 : b.x1] = True
        chroma[b.y0 // 2 : (b.y1 + 1) // 2, b.x0 // 2 : (b.x1 + 1) // 2] = True
    return luma, chroma


@pytest.mark.parametrize("kind", ["blur", "pixelate", "fill", "inpaint"])
def test_outside_boxes_is_bit_exact_and_inside_changed(frames: list[av.VideoFrame], kind: str) -> None:
    src = frames[1]
    before = planes(src)
    out = edit_frame(src, BOXES, OperationConfig(kind=kind))
    after = planes(out)
    luma, chroma = masks()
    for k, (a, b) in enumerate(zip(before, after, strict=True)):
        inside = luma if k == 0 else chroma
        assert np.array_equal(a[~inside], b[~inside]), f"plane {k}: pixels outside the boxes changed"
    for b in BOXES:
        region_before = before[0][b.y0 : b.y1, b.x0 : b.x1].astype(int)
        region_after = after[0][b.y0 : b.y1, b.x0 : b.x1].astype(int)
        assert np.mean(np.abs(region_before - region_after)) > 5, f"{kind}: box {b} looks untouched"
    # the decoder's own frame is never written to (it is a reference for the frames after it)
    assert all(np.array_equal(x, y) for x, y in zip(before, planes(src), strict=True))


def test_fill_paints_the_colour(frames: list[av.VideoFrame]) -> None:
    out = edit_frame(frames[0], BOXES, OperationConfig(kind="fill", fill_color=(255, 0, 0)))
    rgb = out.to_ndarray(format="rgb24")
    b = BOXES[0]
    inner = rgb[b.y0 + 2 : b.y1 - 2, b.x0 + 2 : b.x1 - 2].reshape(-1, 3).astype(int)
    assert np.abs(inner - [255, 0, 0]).max() <= 6  # limited-range YUV rounding only


def test_pixelate_makes_blocks(frames: list[av.VideoFrame]) -> None:
    out = edit_frame(frames[0], BOXES, OperationConfig(kind="pixelate", pixelate_blocks=4))
    b = BOXES[0]
    luma = plane_view(out.planes[0])[b.y0 : b.y1, b.x0 : b.x1]
    source = plane_view(frames[0].planes[0])[b.y0 : b.y1, b.x0 : b.x1]
    # 4 blocks across the smaller side: a few dozen distinct levels at most, against the source's hundreds
    assert len(np.unique(luma)) <= 40 < len(np.unique(source))


def test_blur_smooths(frames: list[av.VideoFrame]) -> None:
    out = edit_frame(frames[0], BOXES, OperationConfig(kind="blur"))
    b = BOXES[0]
    edges = [
        np.abs(np.diff(plane_view(f.planes[0])[b.y0 : b.y1, b.x0 : b.x1].astype(int), axis=1)).mean()
        for f in (frames[0], out)
    ]
    assert edges[1] < edges[0] / 2


def test_none_and_no_boxes_return_the_frame_itself(frames: list[av.VideoFrame]) -> None:
    assert edit_frame(frames[0], BOXES, OperationConfig(kind="none")) is frames[0]
    assert edit_frame(frames[0], [], OperationConfig(kind="blur")) is frames[0]


def test_boxes_at_the_frame_edges(frames: list[av.VideoFrame], tmp_path: Path) -> None:
    edge = [Box(x0=0, y0=0, x1=WIDTH, y1=7), Box(x0=WIDTH - 5, y0=HEIGHT - 9, x1=WIDTH, y1=HEIGHT)]
    for kind in ("blur", "pixelate", "fill", "inpaint"):
        out = edit_frame(frames[2], edge, OperationConfig(kind=kind))
        assert (out.width, out.height) == (WIDTH, HEIGHT)
        assert not np.array_equal(plane_view(out.planes[0])[:7], plane_view(frames[2].planes[0])[:7])
