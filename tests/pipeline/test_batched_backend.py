"""process_segment hands frames to the batched torch backend (pipeline/gpu) when the operation asks for it.

Without a GPU the batched path is taken by a TorchScript model on the CPU torch device: the same code a CUDA run
goes through apart from the device (CUDA itself is covered by tests/gpu, skipped where there is none).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cases import FRAMES, HEIGHT, REGION_PX, WIDTH, blur_config
from support.media import decode, psnr, region_mask
from videojob.pipeline.runner import run_local

torch = pytest.importorskip("torch", reason="torch (the batched backend) is not installed")

OUTSIDE = region_mask(WIDTH, HEIGHT, [REGION_PX], margin=8)
INSIDE = ~region_mask(WIDTH, HEIGHT, [REGION_PX], margin=-4)  # well inside: codec blocks bleed at the edges


class Darken(torch.nn.Module):
    """Inside the mask: a tenth of the brightness."""

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return frames * (1.0 - 0.9 * mask)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_operation_runs_through_the_batched_path(clip: Path, tmp_path: Path) -> None:
    model = tmp_path / "darken.pt"
    torch.jit.script(Darken()).save(str(model))
    cfg = blur_config(2)
    cfg.operation.torchscript = str(model)
    work, out = tmp_path / "work", tmp_path / "out.mp4"
    report = run_local(clip, out, cfg, workers=1, workdir=work)
    assert report.frames_out == FRAMES
    for i in range(2):
        result = json.loads((work / "segments" / f"seg-{i:05d}.json").read_text())
        assert result["backend"] == "torch:cpu", result
        assert result["frames_with_regions"] == result["frames"]
    _, src, _ = decode(clip)
    _, dst, _ = decode(out)
    assert len(dst) == FRAMES
    for a, b in zip(src, dst, strict=True):
        assert psnr(a, b, OUTSIDE) >= 38.0
        # the model's effect, not an OpenCV blur's: the region is dark
        assert b[INSIDE].mean() < 0.25 * a[INSIDE].mean()


def test_default_operation_stays_on_opencv(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    run_local(clip, tmp_path / "out.mp4", blur_config(1), workers=1, workdir=work)
    assert json.loads((work / "segments" / "seg-00000.json").read_text())["backend"] == "opencv"
