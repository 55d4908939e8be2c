"""The output keeps what the source says about itself (issue 11): the sample aspect ratio, every stream's tags
(language, title) and disposition, a colour range stated on its own, the container's tags and its chapters.

Sources are made with the ffmpeg command line (PyAV cannot write subtitles, chapters from a file, or x265/VP9
with a range tag): 160x120, 24 frames, so each test runs in about a second.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from support.cases import blur_config
from support.media import ffmpeg, make_clip
from videojob.pipeline.runner import run_local

SRT = "1\n00:00:00,200 --> 00:00:00,600\nbonjour\n"
CHAPTERS = """;FFMETADATA1
title=Holiday
comment=made for the test

[CHAPTER]
TIMEBASE=1/1000
START=0
END=500
title=Opening

[CHAPTER]
TIMEBASE=1/1000
START=500
END=1000
title=Ending
"""
LAVFI = ["-f", "lavfi", "-i", "testsrc=s=160x120:r=24:d=1"]


def run(source: Path, out: Path, segments: int = 3, stage: str = "segment") -> None:
    config = blur_config(segments)
    config.encode.stage = stage  # type: ignore[assignment]
    run_local(source, out, config, workers=2)


@pytest.mark.parametrize(
    ("sar", "suffix", "stage"),
    [("16/15", ".mp4", "segment"), ("128/117", ".mp4", "segment"), ("16/15", ".mkv", "finalize")],
)
def test_sample_aspect_ratio_is_kept(tmp_path: Path, sar: str, suffix: str, stage: str) -> None:
    source = tmp_path / f"anamorphic{suffix}"
    ffmpeg(*LAVFI, "-vf", f"setsar={sar}:max=1000", "-c:v", "libx264", "-g", "8", source)
    out = tmp_path / f"out{suffix}"
    run(source, out, stage=stage)
    with av.open(str(source)) as c:
        # What the source says, as its container says it (Matroska stores a display size, so it rounds the SAR).
        want = c.streams.video[0].sample_aspect_ratio, c.streams.video[0].display_aspect_ratio
    assert want[0] is not None and abs(want[0] - Fraction(sar)) < Fraction(1, 20)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.sample_aspect_ratio, v.display_aspect_ratio) == want
        assert v.codec_context.sample_aspect_ratio == Fraction(sar)  # the bitstream's own, exact


def streams_of(path: Path) -> list[tuple[str, str | None, str | None, int]]:
    with av.open(str(path)) as c:
        return [
            (s.type, s.metadata.get("language"), s.metadata.get("title"), int(s.disposition))
            for s in c.streams
            if s.type != "video"
        ]


def test_stream_tags_and_dispositions_are_kept(tmp_path: Path) -> None:
    (tmp_path / "s.srt").write_text(SRT)
    source = tmp_path / "tagged.mkv"
    ffmpeg(
        *LAVFI, "-f", "lavfi", "-i", "sine=d=1", "-f", "lavfi", "-i", "sine=f=880:d=1", "-i", tmp_path / "s.srt",
        "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-c:v", "libx264", "-g", "8", "-c:a", "aac", "-c:s", "srt",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=Main",
        "-metadata:s:a:1", "language=fra", "-metadata:s:a:1", "title=Commentaire",
        "-metadata:s:s:0", "language=fra", "-metadata:s:s:0", "title=Forcés",
        "-disposition:a:0", "default", "-disposition:a:1", "comment", "-disposition:s:0", "forced",
        source,
    )  # fmt: skip
    expected = streams_of(source)
    assert [lang for _, lang, _, _ in expected] == ["eng", "fra", "fra"]  # the source really says it
    out = tmp_path / "out.mkv"
    run(source, out)
    assert streams_of(out) == expected


def test_container_tags_and_chapters_are_kept(tmp_path: Path) -> None:
    (tmp_path / "meta.txt").write_text(CHAPTERS)
    source = tmp_path / "chapters.mkv"
    ffmpeg(*LAVFI, "-i", tmp_path / "meta.txt", "-map", "0", "-map_metadata", "1", "-map_chapters", "1",
           "-c:v", "libx264", "-g", "8", source)  # fmt: skip
    out = tmp_path / "out.mkv"
    run(source, out)
    with av.open(str(out)) as c:
        tags = {k.lower(): v for k, v in c.metadata.items()}
        chapters = [
            (float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"])
            for ch in c.chapters()
        ]
    assert tags["title"] == "Holiday" and tags["comment"] == "made for the test"
    assert chapters == [(0.0, 0.5, {"title": "Opening"}), (0.5, 1.0, {"title": "Ending"})]


@pytest.mark.parametrize(
    ("codec", "source_suffix", "suffix"),
    [("libx265", ".mkv", ".mp4"), ("libvpx-vp9", ".webm", ".mkv"), ("libx265", ".mp4", ".mkv")],
)
def test_a_range_stated_alone_is_kept(tmp_path: Path, codec: str, source_suffix: str, suffix: str) -> None:
    """`tv` with no primaries or matrix: x264 writes no VUI signal type for it, so the container must say it."""
    source = tmp_path / f"tv{source_suffix}"
    quiet = ["-x265-params", "log-level=error"] if codec == "libx265" else ["-deadline", "realtime"]
    ffmpeg(*LAVFI, "-c:v", codec, *quiet, "-g", "8", "-pix_fmt", "yuv420p", "-color_range", "tv", source)
    with av.open(str(source)) as c:
        assert c.streams.video[0].codec_context.color_range == 1
    out = tmp_path / f"out{suffix}"
    run(source, out)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.color_range == 1


def test_rotated_anamorphic_source_keeps_its_shape(tmp_path: Path) -> None:
    """The frames are turned upright, so the pixel's shape turns with them: 16:15 becomes 15:16."""
    upright = make_clip(tmp_path / "upright.mp4", frames=24, gop=8, audio=False, rotation=90)
    source = tmp_path / "rotated.mp4"
    ffmpeg("-i", upright, "-c", "copy", "-bsf:v", "h264_metadata=sample_aspect_ratio=16/15", source)
    with av.open(str(source)) as c:
        assert c.streams.video[0].codec_context.sample_aspect_ratio == Fraction(16, 15)
    out = tmp_path / "out.mp4"
    run(source, out)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (120, 160)
        assert v.sample_aspect_ratio == Fraction(15, 16)
