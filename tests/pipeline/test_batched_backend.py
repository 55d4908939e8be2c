"""process_segment hands frames to the batched torch backend (pipeline/gpu) when the operation asks for it.

Without a GPU the batched path is taken by a TorchScript model on the CPU torch device: the same code a CUDA run
goes through apart from the device (CUDA itself is covered by tests/gpu, skipped where there is none).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch  # the detect extra, installed by `make venv`: a missing torch fails, it does not skip
from support.cases import FRAMES, HEIGHT, REGION_PX, WIDTH, blur_config
from support.media import decode, psnr, region_mask
from videojob.pipeline.runner import run_local

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


def test_default_device_is_the_gpu_when_there_is_one(clip: Path, tmp_path: Path) -> None:
    """The default `auto`: batched torch on a CUDA device, else OpenCV; on a CPU node torch is not even imported
    (a second or more of every segment's start). Run in a fresh interpreter, where nothing imported torch yet."""
    work = tmp_path / "work"
    config = blur_config(1)
    assert config.operation.device == "auto"
    script = (
        "import sys; from pathlib import Path; from videojob.pipeline.config import JobConfig; "
        "from videojob.pipeline.runner import run_local; "
        f"run_local(Path({str(clip)!r}), Path({str(tmp_path / 'out.mp4')!r}), "
        f"JobConfig.model_validate_json({config.model_dump_json()!r}), workers=1, workdir=Path({str(work)!r})); "
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    backend = json.loads((work / "segments" / "seg-00000.json").read_text())["backend"]
    if torch.cuda.is_available():
        assert backend.startswith("torch:cuda"), backend
    else:
        assert backend == "opencv"
        assert run.stdout.strip().splitlines()[-1] == "False", "torch was imported on a machine without CUDA"


def test_cpu_device_stays_on_opencv(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    config = blur_config(1)
    config.operation.device = "cpu"
    run_local(clip, tmp_path / "out.mp4", config, workers=1, workdir=work)
    assert json.loads((work / "segments" / "seg-00000.json").read_text())["backend"] == "opencv"
