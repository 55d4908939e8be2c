"""Each file is checked before it is renamed into place: a bad segment or output never appears under its name.

Segments used to be renamed into place and only then counted, so a reader (another pod, finalize, resume) could
see a file with a frame missing under the final name, however briefly; a frame lost by the encoder was not seen
at all until finalize.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cases import blur_config
from videojob.pipeline import finalize as finalize_module
from videojob.pipeline import segment as segment_module
from videojob.pipeline import stages
from videojob.pipeline.errors import BadInputError, VideoJobError
from videojob.pipeline.segment import segment_paths


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path something is renamed to (atomic_path's os.replace)."""
    targets: list[Path] = []
    real = os.replace

    def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        targets.append(Path(dst))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    return targets


class DroppingStream:
    """The encoder, but the `drop`-th frame it is given never comes out: a fault in the encoder, not the input."""

    def __init__(self, stream: Any, drop: int = 5) -> None:
        self._stream, self._given, self._drop = stream, 0, drop

    def encode(self, frame: Any = None) -> Any:
        if frame is not None:
            self._given += 1
            if self._given == self._drop:
                return []
        return self._stream.encode(frame)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in (work / "segments").iterdir()) if (work / "segments").is_dir() else []


def test_a_segment_the_encoder_lost_a_frame_of_never_appears(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renamed: list[Path]
) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(2))
    real = segment_module.add_video_stream
    monkeypatch.setattr(segment_module, "add_video_stream", lambda *a, **k: DroppingStream(real(*a, **k)))
    media, meta = segment_paths(work, 0)
    with pytest.raises(VideoJobError, match="segment 0") as info:
        stages.process_segment(clip, work, 0)
    assert "\n" not in str(info.value)
    assert media not in renamed, "the bad segment was renamed into place before it was checked"
    assert leftovers(work) == [], "a temp file or a result was left"
    # Without the fault the same segment is made, checked and kept.
    monkeypatch.setattr(segment_module, "add_video_stream", real)
    assert stages.process_segment(clip, work, 0).frames == 36
    assert media in renamed and meta.is_file()


def test_a_segment_short_of_decoded_frames_never_appears(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renamed: list[Path]
) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(2))
    real = segment_module.iter_frames

    def short(*args: Any, **kwargs: Any) -> Iterator[Any]:
        frames = list(real(*args, **kwargs))
        yield from frames[:-1]  # a damaged input: the last frame does not decode

    monkeypatch.setattr(segment_module, "iter_frames", short)
    with pytest.raises(BadInputError, match="segment 1"):
        stages.process_segment(clip, work, 1)
    assert segment_paths(work, 1)[0] not in renamed
    assert leftovers(work) == []


def test_an_output_short_of_a_frame_never_appears(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renamed: list[Path]
) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(2))
    for i in range(2):
        stages.process_segment(clip, work, i)
    real = finalize_module._video_packets

    def lossy(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for n, item in enumerate(real(*args, **kwargs)):
            if n != 10:
                yield item

    monkeypatch.setattr(finalize_module, "_video_packets", lossy)
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoJobError, match="frames"):
        stages.finalize(clip, work, out)
    assert out not in renamed and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
