"""NVDEC in the segment path: the frames and the output equal software decoding's, and the report says NVDEC.

Skipped, saying so, where FFmpeg cannot open a CUDA device for H.264 decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.media import decode, make_clip
from videojob.pipeline.config import EncodeConfig, JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.decode import DecoderUsed, iter_frames
from videojob.pipeline.detect import DetectorConfig, NormRegion
from videojob.pipeline.hwdecode import choose_hwaccel, cuda_decode_problem
from videojob.pipeline.probe import probe
from videojob.pipeline.runner import run_local
from videojob.pipeline.yuvops import plane_view

PROBLEM = cuda_decode_problem("h264")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(PROBLEM is not None, reason=f"no CUDA device usable by NVDEC: {PROBLEM}"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("nvdec") / "clip.mp4", 320, 240, frames=60, audio=True, gop=16)


def test_nvdec_frames_equal_software_frames(clip: Path) -> None:
    info = probe(clip)
    hwaccel, note = choose_hwaccel("cuda", info.codec)
    assert hwaccel is not None and note == ""
    for start, end in [(0, 60), (21, 47)]:  # from the start, and through a seek to a non-keyframe
        used = DecoderUsed()
        hw = list(iter_frames(clip, info, start, end, hwaccel=hwaccel, used=used))
        sw = list(iter_frames(clip, info, start, end))
        assert used.name == "nvdec"
        assert [i for i, _ in hw] == [i for i, _ in sw] == list(range(start, end))
        for (i, a), (_, b) in zip(hw, sw, strict=True):
            assert a.format.name == b.format.name == "yuv420p" and a.pts == b.pts
            for pa, pb in zip(a.planes, b.planes, strict=True):
                np.testing.assert_array_equal(plane_view(pa), plane_view(pb), err_msg=f"frame {i}")


def test_segments_decoded_by_nvdec_give_the_software_output(clip: Path, tmp_path: Path) -> None:
    outputs = {}
    for mode in ("cuda", "none"):
        cfg = JobConfig(
            detector=DetectorConfig(kind="static", regions=[NormRegion(x=0.25, y=0.25, w=0.25, h=0.25)], padding=0),
            operation=OperationConfig(kind="blur"),
            segmentation=SegmentationConfig(segments=3, min_frames_per_segment=4),
            encode=EncodeConfig(encoder="software"),
        )
        cfg.decode.hwaccel = mode
        report = run_local(clip, tmp_path / f"{mode}.mp4", cfg, workers=1)
        assert report.decoder == ("nvdec" if mode == "cuda" else "software")
        assert report.hardware_decoder == (mode == "cuda")
        outputs[mode] = decode(tmp_path / f"{mode}.mp4")[1]
    assert len(outputs["cuda"]) == 60
    for i, (a, b) in enumerate(zip(outputs["cuda"], outputs["none"], strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")
