"""decode.hwaccel: NVDEC when a CUDA device can be opened, software otherwise, the same frames either way.

On a machine without a CUDA device these check the fallback (auto) and the refusal (cuda); tests/gpu checks
NVDEC against software decoding where there is one.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from support.cases import FRAMES, blur_config
from support.media import decode, make_clip
from videojob.pipeline.decode import DecoderUsed, iter_frames
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.hwdecode import choose_hwaccel, cuda_decode_problem, to_software_layout
from videojob.pipeline.probe import probe
from videojob.pipeline.runner import run_local
from videojob.pipeline.segment import SegmentResult, segment_paths
from videojob.pipeline.yuvops import plane_view

NO_NVDEC = cuda_decode_problem("h264")


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    return [plane_view(p).copy() for p in frame.planes]


@pytest.mark.parametrize(("width", "fmt"), [(256, "yuv420p"), (202, "yuv420p"), (256, "yuvj420p")])
def test_nv12_comes_back_as_the_software_layout_sample_for_sample(tmp_path: Path, width: int, fmt: str) -> None:
    """What NVDEC downloads (nv12) is put back into the planar layout without touching a sample."""
    clip = make_clip(tmp_path / "c.mp4", width, 144, frames=6, audio=False, pix_fmt=fmt)
    with av.open(str(clip)) as c:
        for src in c.decode(video=0):
            assert src.format.name == fmt
            nv12 = src.reformat(format="nv12")  # an exact interleave of U and V
            nv12.pts, nv12.time_base = src.pts, src.time_base
            nv12.color_range = src.color_range
            back = to_software_layout(nv12, fmt)
            assert back.format.name == fmt and (back.width, back.height) == (src.width, src.height)
            assert back.pts == src.pts and back.time_base == src.time_base
            assert back.color_range == src.color_range
            for a, b in zip(planes(src), planes(back), strict=True):
                np.testing.assert_array_equal(a, b)
    yuv = av.VideoFrame(64, 36, "yuv420p")
    assert to_software_layout(yuv, "yuv420p") is yuv  # already in the layout: no copy


def test_none_never_asks_for_a_device() -> None:
    assert choose_hwaccel("none", "h264") == (None, "")


def test_a_codec_without_nvdec_decodes_in_software() -> None:
    assert cuda_decode_problem("prores") is not None
    hwaccel, note = choose_hwaccel("auto", "prores")
    assert hwaccel is None and "NVDEC unavailable" in note


@pytest.mark.skipif(NO_NVDEC is None, reason="a CUDA device is present: tests/gpu covers NVDEC")
def test_auto_without_a_device_is_software_with_identical_output(clip: Path, tmp_path: Path) -> None:
    outputs = {}
    for mode in ("auto", "none"):
        cfg = blur_config(3)
        cfg.decode.hwaccel = mode
        work = tmp_path / f"work-{mode}"
        report = run_local(clip, tmp_path / f"{mode}.mp4", cfg, workers=1, workdir=work)
        assert report.decoder == "software" and not report.hardware_decoder
        results = [SegmentResult.model_validate_json(segment_paths(work, i)[1].read_text()) for i in range(3)]
        assert {r.decoder for r in results} == {"software"}
        if mode == "auto":
            assert all(r.decode_note.startswith("NVDEC unavailable: ") for r in results)
            assert "NVDEC unavailable: " in report.note and "\n" not in report.note
        else:
            assert all(r.decode_note == "" for r in results)
            assert "NVDEC" not in report.note
        outputs[mode] = [r.sha256 for r in results], decode(tmp_path / f"{mode}.mp4")[1]
    assert outputs["auto"][0] == outputs["none"][0]  # the same segment files, byte for byte
    assert len(outputs["auto"][1]) == FRAMES
    for a, b in zip(*(outputs[m][1] for m in ("auto", "none")), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(NO_NVDEC is None, reason="a CUDA device is present: tests/gpu covers NVDEC")
def test_cuda_without_a_device_is_a_one_line_error(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as err:
        choose_hwaccel("cuda", "h264")
    message = str(err.value)
    assert "\n" not in message and "hwaccel cuda was requested" in message and "hwaccel auto or none" in message
    cfg = blur_config(2)
    cfg.decode.hwaccel = "cuda"
    with pytest.raises(BadInputError, match="hwaccel cuda was requested"):
        run_local(clip, tmp_path / "o.mp4", cfg, workers=1)
    assert not (tmp_path / "o.mp4").exists()


def test_iter_frames_reports_the_decoder_and_keeps_frames_exact(clip: Path) -> None:
    """Through a seek to a non-keyframe start, with whatever `auto` chose here: the frames software decoding gives."""
    info = probe(clip)
    hwaccel, _ = choose_hwaccel("auto", info.codec)
    used = DecoderUsed()
    got = list(iter_frames(clip, info, 13, 50, hwaccel=hwaccel, used=used))
    want = list(iter_frames(clip, info, 13, 50))
    assert used.name == ("software" if NO_NVDEC else "nvdec")
    assert [i for i, _ in got] == [i for i, _ in want] == list(range(13, 50))
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert a.format.name == b.format.name and a.pts == b.pts
        assert a.time_base == b.time_base == Fraction(*info.time_base)
        for pa, pb in zip(planes(a), planes(b), strict=True):
            np.testing.assert_array_equal(pa, pb)
