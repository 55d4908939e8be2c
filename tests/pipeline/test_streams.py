"""Audio and subtitle streams are copied from the source once, keeping their timing against the video.

The inputs are muxed with the ffmpeg command line (a system dependency, `make system-deps`): PyAV cannot write
subtitle streams, and `-itsoffset` is the plain way to make audio that starts late.
"""

from __future__ import annotations

from pathlib import Path

import av
from support.cases import FPS, FRAMES, blur_config
from support.media import SYNC, audio_span, decode, ffmpeg
from videojob.pipeline.runner import run_local

SRT = "1\n00:00:00,500 --> 00:00:01,200\nhello\n\n2\n00:00:01,500 --> 00:00:02,500\nworld\n"


def first_video_time(path: Path) -> float:
    pts, _, tb = decode(path)
    return float(pts[0] * tb)


def subtitle_events(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        return [(float(p.pts * p.time_base), bytes(p)) for p in c.demux(s) if p.size]


def test_subtitles_are_copied_with_their_timing(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "s.srt").write_text(SRT)
    src = tmp_path / "subs.mkv"
    ffmpeg("-i", clip, "-i", tmp_path / "s.srt", "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", src)
    out = tmp_path / "out.mkv"
    report = run_local(src, out, blur_config(3), workers=2)
    assert report.subtitle_streams == 1 and report.frames_out == FRAMES
    before, after = subtitle_events(src), subtitle_events(out)
    assert [text for _, text in after] == [text for _, text in before]
    v0, v1 = first_video_time(src), first_video_time(out)
    for (t0, _), (t1, _) in zip(before, after, strict=True):
        assert abs((t1 - v1) - (t0 - v0)) <= 1 / FPS


def test_late_audio_keeps_its_offset(clip: Path, tmp_path: Path) -> None:
    src = tmp_path / "late.mp4"
    ffmpeg("-i", clip, "-itsoffset", "0.25", "-i", clip, "-map", "0:v", "-map", "1:a", "-c", "copy", src)
    a0 = audio_span(src)
    assert a0 is not None and a0[0] > 0.2  # the input really starts its audio late
    out = tmp_path / "out.mp4"
    report = run_local(src, out, blur_config(2), workers=2)
    a1 = audio_span(out)
    assert a1 is not None
    offset_in = a0[0] - first_video_time(src)
    offset_out = a1[0] - first_video_time(out)
    assert abs(offset_out - offset_in) <= SYNC, f"audio offset {offset_out:.4f} s, the source's {offset_in:.4f} s"
    assert abs(a1[1] - a0[1]) <= 1 / FPS
    assert report.audio_offset is not None and abs(report.audio_offset - offset_in) <= SYNC
