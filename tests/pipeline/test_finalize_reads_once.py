"""Finalize reads each segment once: the checksum is taken while the packets are copied, not in a pass of its own,
and a segment changed since it was made (same size, other bytes) is still refused, with no output left."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from support.cases import FRAMES, blur_config
from videojob.pipeline import finalize as finalize_module
from videojob.pipeline import stages
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.readonce import BLOCK, CheckedReader, file_digest
from videojob.pipeline.segment import segment_paths


def test_the_reader_checks_a_file_in_the_order_the_demuxer_reads_it(clip: Path) -> None:
    with CheckedReader(clip) as reader, av.open(reader, mode="r") as container:
        packets = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
        assert packets == FRAMES
        assert reader.digest() == file_digest(clip)
        # MP4 keeps its index at the end: read first, then the media from the start, and no block twice.
        assert reader.disk_bytes == clip.stat().st_size


def test_file_digest_is_per_block(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * (2 * BLOCK + 5))
    with CheckedReader(path) as reader:
        reader.seek(BLOCK + 3)
        assert reader.read(4) == b"aaaa"
        assert reader.digest() == file_digest(path)  # the blocks the reader skipped are hashed at the end
    path.write_bytes(b"a" * (2 * BLOCK + 4) + b"b")
    assert file_digest(path) != reader.digest()


def test_finalize_reads_each_segment_once_and_refuses_a_changed_one(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    plan = stages.detect_and_plan(clip, work, blur_config(3))
    for s in plan.segments:
        stages.process_segment(clip, work, s.index)
    readers: list[CheckedReader] = []

    class Counted(CheckedReader):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            readers.append(self)

    monkeypatch.setattr(finalize_module, "CheckedReader", Counted)
    assert stages.finalize(clip, work, tmp_path / "out.mp4").frames_out == FRAMES
    sizes = [segment_paths(work, s.index)[0].stat().st_size for s in plan.segments]
    assert [r.size for r in readers] == sizes
    assert [r.disk_bytes for r in readers] == sizes  # every byte of every segment read once, checksum included

    media = segment_paths(work, 1)[0]
    data = bytearray(media.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])  # same size, other bytes
    media.write_bytes(bytes(data))
    out = tmp_path / "again.mp4"
    with pytest.raises(BadInputError, match="segment 1 does not match its recorded checksum") as info:
        stages.finalize(clip, work, out)
    assert "\n" not in str(info.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "work"]  # no temp output left
