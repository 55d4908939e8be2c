"""Every error of `videojob run` is one line on stderr, exit code 2, and leaves no file behind.

Run as a user runs it (a subprocess). Each case was a traceback, a silent acceptance, or a line nobody can act on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.media import make_clip

VIDEOJOB = Path(sys.executable).with_name("videojob")
REGION = ("--region", "0.1,0.1,0.3,0.3")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Small: two cores are shared with another suite, and most cases must fail before decoding anything.
    return make_clip(tmp_path_factory.mktemp("src") / "in.mp4", 64, 48, frames=12, fps=12, gop=6)


def unprivileged() -> list[str]:
    """A prefix that makes permission bits count: root (as in CI containers) writes into a 0555 directory anyway.
    Dropping CAP_DAC_OVERRIDE leaves root subject to them, as any user is."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to test a read-only directory as root"
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def run(*args: str | Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [*(prefix or []), str(VIDEOJOB), "run", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("videojob") and "error: " in line and "Traceback" not in line, line
    for word in words:
        assert word in line, line
    return line


def test_output_in_a_read_only_directory(tiny: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = run(tiny, "-o", locked / "out.mp4", *REGION, "--workers", "1", prefix=unprivileged())
        assert_one_line(result, str(locked), "not writable")
        assert listing(locked) == []
    finally:
        locked.chmod(0o755)
    assert listing(tmp_path) == ["locked"]


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.txt", b"not a model\n" * 50), ("picture.png", None), ("weights.onnx", b"\x08\x01" * 40)],
    ids=["text", "image", "onnx-named"],
)
def test_model_that_is_not_a_model(tiny: Path, tmp_path: Path, name: str, content: bytes | None) -> None:
    model = tmp_path / name
    if content is None:
        import cv2
        import numpy as np

        cv2.imwrite(str(model), np.full((32, 32, 3), 128, np.uint8))
    else:
        model.write_bytes(content)
    before = listing(tmp_path)
    result = run(tiny, "-o", tmp_path / "out.mp4", "--model", model, "--workers", "1")
    assert_one_line(result, name)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_workers_must_be_a_positive_count_or_auto(tiny: Path, tmp_path: Path, value: str) -> None:
    result = run(tiny, "-o", tmp_path / "out.mp4", *REGION, "--workers", value)
    assert_one_line(result, "--workers", "auto")
    assert listing(tmp_path) == []


def test_workers_auto_is_the_default(tiny: Path, tmp_path: Path) -> None:
    from videojob.cli.main import build_parser

    args = build_parser().parse_args(["run", str(tiny), "-o", str(tmp_path / "o.mp4")])
    assert args.workers is None  # auto
    result = run(tiny, "-o", tmp_path / "out.mp4", *REGION, "--workers", "auto", "--segments", "2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mp4").is_file()


def test_auto_workers_are_half_the_cores_or_the_segments_whichever_is_fewer() -> None:
    from videojob.pipeline.runner import pool_size

    half = max(1, (os.cpu_count() or 1) // 2)  # a worker per two cores (bench/bench_local.py: never slower than one)
    assert pool_size(None, 1) == 1
    assert pool_size(None, 10_000) == half
    assert pool_size(None, 2) == min(half, 2)
    assert pool_size(3, 2) == 2  # never more processes than segments
    assert pool_size(3, 8) == 3


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing-input", ["does not exist"]),
        ("missing-output-directory", ["does not exist"]),
        ("output-is-a-directory", ["is a directory"]),
        ("workdir-is-a-file", ["work directory", "not a directory"]),
        ("segments-not-a-number", ["--segments", "auto"]),
        ("classes-not-numbers", ["--classes"]),
        ("unknown-operation", ["--op"]),
        ("no-output", ["-o"]),
    ],
)
def test_other_mistakes(tiny: Path, tmp_path: Path, case: str, words: list[str]) -> None:
    src, out = tiny, tmp_path / "out.mp4"
    extra: list[str | Path] = [*REGION, "--workers", "1"]
    if case == "missing-input":
        src = tmp_path / "nope.mp4"
    elif case == "missing-output-directory":
        out = tmp_path / "no" / "out.mp4"
    elif case == "output-is-a-directory":
        out = tmp_path / "folder.mp4"
        out.mkdir()
    elif case == "workdir-is-a-file":
        (tmp_path / "work").write_text("a file")
        extra += ["--workdir", tmp_path / "work"]
    elif case == "segments-not-a-number":
        extra += ["--segments", "three"]
    elif case == "classes-not-numbers":
        extra = ["--model", tmp_path / "absent.pt", "--classes", "person"]
    elif case == "unknown-operation":
        extra += ["--op", "smudge"]
    before = listing(tmp_path)
    args: list[str | Path] = [src, *extra] if case == "no-output" else [src, "-o", out, *extra]
    assert_one_line(run(*args), *words)
    assert listing(tmp_path) == before
