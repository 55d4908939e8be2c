"""The `videojob` command as a user runs it: run, probe and demo in a subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from support.cases import FRAMES, HEIGHT, WIDTH
from support.media import audio_span, decode
from videojob.pipeline.hwdecode import cuda_decode_problem

VIDEOJOB = Path(sys.executable).with_name("videojob")


def videojob(*args: str | Path, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VIDEOJOB), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_run_writes_every_frame_and_reports(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = videojob(
        "run",
        clip,
        "-o",
        out,
        "--region",
        "0.25,0.25,0.25,0.25",
        "--workers",
        "2",
        "--segments",
        "3",
        "--workdir",
        tmp_path / "work",
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: {FRAMES} frames" in result.stdout
    # not a terminal: plain progress lines, one per segment at least
    assert all(f"segment {i}: " in result.stdout for i in range(3)), result.stdout
    assert len(decode(out)[1]) == FRAMES
    assert audio_span(out) is not None
    report = json.loads((tmp_path / "work" / "report.json").read_text())
    assert report["frames_in"] == report["frames_out"] == FRAMES
    assert report["segments"] == 3
    # the work directory was asked for, so it stays (resumable); nothing temporary is left next to the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "work"]


def test_run_rejects_a_bad_region_in_one_line(clip: Path, tmp_path: Path) -> None:
    result = videojob("run", clip, "-o", tmp_path / "o.mp4", "--region", "0.9,0.9,0.5,0.5")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "extends past the frame" in lines[0], result.stderr
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.skipif(cuda_decode_problem("h264") is None, reason="a CUDA device is present: NVDEC would be used")
def test_run_with_hwaccel_cuda_and_no_device_fails_in_one_line(clip: Path, tmp_path: Path) -> None:
    result = videojob("run", clip, "-o", tmp_path / "o.mp4", "--region", "0.1,0.1,0.2,0.2", "--hwaccel", "cuda")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hwaccel cuda was requested" in lines[0], result.stderr
    # In plain words: no errno from the driver ("[Errno 1] Operation not permitted").
    if "no NVIDIA GPU" in lines[0] or "Errno" in lines[0]:
        assert "no NVIDIA GPU is visible to this process" in lines[0] and "Errno" not in lines[0], lines[0]
    assert not (tmp_path / "o.mp4").exists()


def test_probe_prints_json(clip: Path) -> None:
    result = videojob("probe", clip)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["width"], info["height"], info["frames"]) == (WIDTH, HEIGHT, FRAMES)
    assert info["keyframes"][0] == 0 and len(info["keyframes"]) == FRAMES // 24
    assert info["variable_frame_rate"] is False
    assert len(info["audio"]) == 1


@pytest.mark.slow
def test_demo_generates_a_sample_and_processes_it(tmp_path: Path) -> None:
    out = tmp_path / "demo" / "demo.mp4"
    result = videojob("demo", "--output", out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    sample = out.with_name("demo-input.mp4")
    assert str(out) in result.stdout and str(sample) in result.stdout
    _, src, _ = decode(sample)
    _, dst, _ = decode(out)
    assert len(src) == len(dst) == 125
    assert audio_span(out) is not None
    # The face moves and is found by template matching on sampled frames: it must be blurred on every frame,
    # including those between samples and across the scene cut; the logo is a fixed region.
    height, width = src[0].shape[:2]
    r = height // 8
    for i, (a, b) in enumerate(zip(src, dst, strict=True)):
        cx, cy = int(width * (0.15 + 0.5 * i / 125)), int(height * 0.55)
        face = (slice(cy - r // 2, cy + r // 2), slice(cx - r // 2, cx + r // 2))
        assert _psnr(a[face], b[face]) < 30, f"frame {i}: the face is not blurred"
        logo = (slice(int(0.07 * height), int(0.15 * height)), slice(int(0.80 * width), int(0.94 * width)))
        assert _psnr(a[logo], b[logo]) < 30, f"frame {i}: the logo is not blurred"
        away = (slice(int(0.85 * height), height), slice(0, width))  # below the face's path
        assert _psnr(a[away], b[away]) > 38, f"frame {i}: pixels far from both were changed"


def _psnr(a, b) -> float:
    mse = float(((a.astype(float) - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)
