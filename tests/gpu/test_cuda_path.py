"""The batched path on a CUDA device: same results as the same code on the CPU, NVDEC decode, a real encode.

Skipped, saying so, where torch sees no CUDA device."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from support.media import make_clip
from videojob.pipeline.config import EncodeConfig, OperationConfig
from videojob.pipeline.detect.regions import Box
from videojob.pipeline.encode import add_video_stream, choose_encoder
from videojob.pipeline.gpu.decode import iter_bgr_batches
from videojob.pipeline.gpu.device import describe, hwaccel_for, nvdec_usable
from videojob.pipeline.gpu.ops import apply_batch
from videojob.pipeline.gpu.process import process_frames_batched
from videojob.pipeline.yuvops import plane_view

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available() is False)"),
]

CUDA = torch.device("cuda:0") if torch.cuda.is_available() else None


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("cuda") / "clip.mp4", 320, 240, frames=48, audio=False)


def boxes_for(i: int) -> list[Box]:
    return [Box(x0=20 + i, y0=30, x1=141 + i, y1=131)] if i % 4 else []


def test_report_names_the_gpu() -> None:
    report = describe("cuda")
    assert report.cuda and report.gpu
    print(report.to_dict())  # shown with -s: which engines this GPU has


@pytest.mark.parametrize("kind", ["blur", "pixelate", "fill", "inpaint"])
def test_cuda_ops_match_cpu_torch(kind: str) -> None:
    rng = np.random.default_rng(3)
    frames = torch.from_numpy(rng.integers(0, 256, (6, 240, 320, 3), dtype=np.uint8))
    boxes = [boxes_for(i + 1) for i in range(6)]
    op = OperationConfig(kind=kind)
    cpu = apply_batch(frames, boxes, op)
    gpu = apply_batch(frames.to(CUDA), boxes, op).cpu()
    assert (cpu.int() - gpu.int()).abs().max() <= 1


def run_path(clip: Path, device: torch.device | None, op: OperationConfig) -> dict[int, list[np.ndarray]]:
    got: dict[int, list[np.ndarray]] = {}

    def sink(i: int, frame: av.VideoFrame) -> None:
        got[i] = [plane_view(p).copy() for p in frame.planes]

    with av.open(str(clip)) as container:
        stats = process_frames_batched(
            enumerate(container.decode(video=0)), boxes_for, op, sink, batch_size=8, device=device or "cpu"
        )
    assert stats.frames == 48 and stats.device.startswith("cuda" if device else "cpu")
    return got


def test_batched_path_on_cuda_matches_cpu(clip: Path) -> None:
    op = OperationConfig(kind="blur")
    cpu, gpu = run_path(clip, None, op), run_path(clip, CUDA, op)
    assert sorted(gpu) == list(range(48))
    for i in range(48):
        for a, b in zip(cpu[i], gpu[i], strict=True):
            assert np.abs(a.astype(int) - b).max() <= 1, f"frame {i}"


def test_nvdec_decode_matches_software(clip: Path) -> None:
    if not nvdec_usable("h264"):
        pytest.skip("NVDEC cannot be opened on this GPU/driver (FFmpeg CUDA hwaccel unavailable)")
    soft = torch.cat([b for _, b in iter_bgr_batches(clip, 16, CUDA)]).cpu()
    hw = torch.cat([b for _, b in iter_bgr_batches(clip, 16, CUDA, hwaccel=hwaccel_for(CUDA))]).cpu()
    assert hw.shape == soft.shape == (48, 240, 320, 3)
    assert (hw.int() - soft.int()).abs().max() <= 3


def test_segment_through_the_chosen_encoder(clip: Path, tmp_path: Path) -> None:
    """Decode → CUDA edit → NVENC where the GPU has it (libx264 otherwise, e.g. H100/H200) → a playable file."""
    cfg = EncodeConfig()
    name = choose_encoder(cfg)
    out_path = tmp_path / "seg.mp4"
    with av.open(str(clip)) as src, av.open(str(out_path), "w") as out:
        stream = add_video_stream(out, name, cfg, 320, 240, Fraction(1, 24), Fraction(24))

        def sink(i: int, frame: av.VideoFrame) -> None:
            frame.pts, frame.time_base = i, Fraction(1, 24)
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)

        process_frames_batched(enumerate(src.decode(video=0)), boxes_for, OperationConfig(), sink, 8, CUDA)
        for packet in stream.encode(None):
            out.mux(packet)
    with av.open(str(out_path)) as check:
        frames = list(check.decode(video=0))
    assert len(frames) == 48 and frames[0].key_frame
    print(f"encoder: {name}")
