"""Containers whose seeking and timestamps differ from MP4: MPEG-TS (seeks by decoding time, starts late), MKV."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from support.cases import blur_config
from support.media import SYNC, audio_onset, audio_span, decode, ffmpeg, make_clip, psnr, region_mask
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.probe import probe
from videojob.pipeline.runner import run_local

FRAMES, FPS = 36, 24


@pytest.mark.parametrize(("suffix", "out_suffix"), [(".ts", ".mp4"), (".mkv", ".mkv")])
def test_segments_of_other_containers_are_frame_exact(tmp_path: Path, suffix: str, out_suffix: str) -> None:
    # Keyframes every 12 frames with B-frames (x264's default); 3 segments start inside GOPs and on keyframes.
    src = make_clip(tmp_path / f"in{suffix}", 160, 120, FRAMES, FPS, gop=12)
    info = probe(src)
    assert info.frames == FRAMES
    out = tmp_path / f"out{out_suffix}"
    for segments in (3, 4):
        report = run_local(src, out, blur_config(segments), workers=1)
        assert report.frames_out == FRAMES
        src_pts, before, src_tb = decode(src)
        out_pts, after, out_tb = decode(out)
        assert len(after) == FRAMES
        assert all(b > a for a, b in itertools.pairwise(out_pts))
        # the same timing, measured from the first frame (MPEG-TS starts at 1.4 s; the output at 0)
        src_s = [float((p - src_pts[0]) * src_tb) for p in src_pts]
        out_s = [float((p - out_pts[0]) * out_tb) for p in out_pts]
        assert max(abs(a - b) for a, b in zip(src_s, out_s, strict=True)) < 0.5 / FPS
        outside = region_mask(160, 120, [(40, 30, 80, 60)], margin=8)
        # the right frame in the right place: a frame off would show the moving content shifted
        assert min(psnr(a, b, outside) for a, b in zip(before, after, strict=True)) >= 35.0
        a_src, a_out = audio_span(src), audio_span(out)
        assert a_src is not None and a_out is not None
        assert abs(a_src[1] - a_out[1]) <= 1 / FPS
        # the sound starts where it did relative to the first frame, to 1 ms (the output moves both to 0). Its
        # onset, not the stream's first sample: MPEG-TS plays AAC's 21 ms of priming, an MP4 cuts it.
        lead_src = audio_onset(src) - float(src_pts[0] * src_tb)
        lead_out = audio_onset(out) - float(out_pts[0] * out_tb)
        assert abs(lead_out - lead_src) <= SYNC, f"sound starts {lead_out:.4f} s after video, was {lead_src:.4f} s"
        # and the stream itself, priming included: the output starts at the source's earliest stream
        first_src = a_src[0] - float(src_pts[0] * src_tb)
        first_out = a_out[0] - float(out_pts[0] * out_tb)
        assert abs(first_out - first_src) <= SYNC, f"audio starts {first_out:.4f} s after video, was {first_src:.4f} s"


def test_output_that_cannot_hold_the_streams_is_refused_before_any_work(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "s.srt").write_text("1\n00:00:00,500 --> 00:00:01,200\nhello\n")
    src = tmp_path / "subs.mkv"
    mux = ["-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", str(src)]
    ffmpeg("-i", clip, "-i", tmp_path / "s.srt", *mux)
    work = tmp_path / "work"
    for out, words in ((tmp_path / "out.mp4", ("subtitle", "srt", ".mkv")), (tmp_path / "out.webm", ("h264",))):
        with pytest.raises(BadInputError) as info:
            run_local(src, out, blur_config(2), workers=1, workdir=work)
        message = str(info.value)
        assert "\n" not in message and all(w in message for w in words), message
        assert not out.exists()
        assert not work.exists(), "work was started before the output was known to be writable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.srt", "subs.mkv"]
