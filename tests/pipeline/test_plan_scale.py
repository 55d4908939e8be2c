"""The detect stage only demuxes: a 10-minute video is planned with no frame decoded (but the first, for its display
matrix), whatever the detector, and plan.json does not grow with the video (the frame index lives in frames.npz).
bench/bench_plan.py measures the same at 4 hours."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from videojob.pipeline.config import JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.decode import iter_frames
from videojob.pipeline.detect import DetectorConfig, NormRegion
from videojob.pipeline.frameindex import SIDECAR
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.stages import detect_and_plan

FPS = 30


def looped_clip(path: Path, seconds: int) -> Path:
    """Ten seconds of testsrc at 64x36, looped by stream copy to `seconds` (timestamps rewritten by FFmpeg)."""
    base = path.with_name(f"base-{path.name}")
    ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    source = f"testsrc=size=64x36:rate={FPS}:duration=10"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p"]
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", source, *encode, str(base)], check=True)
    loops = ["-stream_loop", str(seconds // 10 - 1)]
    subprocess.run([*ffmpeg, *loops, "-i", str(base), "-c", "copy", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("long")
    return {seconds: looped_clip(folder / f"{seconds}s.mp4", seconds) for seconds in (20, 600)}


class CountingContainer:
    """An input container that counts the frames decoded through it."""

    def __init__(self, inner: Any, counter: list[int]) -> None:
        self._inner, self._counter = inner, counter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> CountingContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def decode(self, *args: Any, **kwargs: Any) -> Iterator[av.VideoFrame]:
        for frame in self._inner.decode(*args, **kwargs):
            self._counter[0] += 1
            yield frame


def config(kind: str, template: Path) -> JobConfig:
    detector = (
        DetectorConfig(kind="static", regions=[NormRegion(x=0.25, y=0.25, w=0.5, h=0.5)])
        if kind == "static"
        else DetectorConfig(kind="template", template=str(template))
    )
    return JobConfig(
        detector=detector, operation=OperationConfig(kind="blur"), segmentation=SegmentationConfig(segments=10)
    )


@pytest.mark.parametrize("kind", ["static", "template"])
def test_planning_a_long_video_decodes_nothing(
    clips: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    template = tmp_path / "t.png"
    cv2.imwrite(str(template), np.random.default_rng(1).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    decoded = [0]
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: CountingContainer(real_open(*a, **k), decoded))
    plan = detect_and_plan(clips[600], tmp_path / "work", config(kind, template))
    assert plan.probe.frames == 600 * FPS
    assert decoded[0] <= 1, f"the detect stage decoded {decoded[0]} frames"
    # The counter sees what decoding does: a segment's first frames.
    before = decoded[0]
    assert len(list(iter_frames(clips[600], SegmentPlan.read(tmp_path / "work").probe, 100, 105))) == 5
    assert decoded[0] >= before + 5


def test_the_plan_does_not_grow_with_the_video(clips: dict[int, Path], tmp_path: Path) -> None:
    sizes = {}
    for seconds, clip in clips.items():
        work = tmp_path / f"w{seconds}"
        detect_and_plan(clip, work, config("static", tmp_path))
        text = (work / "plan.json").read_text()
        assert "pts" not in json.loads(text)["probe"]
        sizes[seconds] = len(text)
        plan = SegmentPlan.read(work)  # with its frame index: every frame's timestamp, back from the sidecar
        assert len(plan.probe.pts) == seconds * FPS and np.all(np.diff(plan.probe.pts) > 0)
    # 30 times the frames, the same ten segments: a few digits more per boundary, nothing per frame.
    assert sizes[600] - sizes[20] < 300, sizes
    assert (tmp_path / "w600" / SIDECAR).stat().st_size < 20_000  # 18000 timestamps, compressed as differences


def test_a_sidecar_from_another_plan_is_refused(clips: dict[int, Path], tmp_path: Path) -> None:
    detect_and_plan(clips[20], tmp_path / "a", config("static", tmp_path))
    detect_and_plan(clips[600], tmp_path / "b", config("static", tmp_path))
    (tmp_path / "a" / SIDECAR).write_bytes((tmp_path / "b" / SIDECAR).read_bytes())
    with pytest.raises(Exception, match="does not belong to the plan beside it"):
        SegmentPlan.read(tmp_path / "a")
