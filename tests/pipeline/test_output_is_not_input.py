"""The input is sacred: an output that resolves to the input is refused before any work, in every spelling.

`-o` with the input's own path, another spelling of it (`dir/../in.mp4`), a symbolic link to it or a hard link to
it: the local runner (`videojob run`) and the cluster's worker (detect and finalize) refuse it in one line with exit
code 2, write nothing, and leave the input as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.media import make_clip

VIDEOJOB = Path(sys.executable).with_name("videojob")
SPELLINGS = ["same-path", "dot-dot", "symlink", "hardlink"]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    # Tiny: the machine is shared; nothing should ever get as far as decoding it.
    path = make_clip(tmp_path_factory.mktemp("src") / "in.mp4", 64, 48, frames=12, fps=12, gop=6)
    return path.read_bytes()


def spelled(tmp_path: Path, original: bytes, how: str) -> tuple[Path, Path]:
    """(input, output) in a fresh directory, the output being the input spelled `how`."""
    src = tmp_path / "media" / "in.mp4"
    src.parent.mkdir()
    src.write_bytes(original)
    (tmp_path / "media" / "sub").mkdir()
    if how == "same-path":
        return src, src
    if how == "dot-dot":
        return src, tmp_path / "media" / "sub" / ".." / "in.mp4"
    out = tmp_path / "media" / "out.mp4"
    if how == "symlink":
        out.symlink_to(src)
    else:
        os.link(src, out)
    return src, out


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def assert_untouched(src: Path, original: bytes, before: os.stat_result) -> None:
    after = os.stat(src)
    assert src.read_bytes() == original
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


@pytest.mark.parametrize("how", SPELLINGS)
def test_videojob_run_refuses_an_output_that_is_the_input(tmp_path: Path, original: bytes, how: str) -> None:
    src, out = spelled(tmp_path, original, how)
    before, files = os.stat(src), listing(tmp_path)
    result = subprocess.run(
        [str(VIDEOJOB), "run", str(src), "-o", str(out), "--region", "0.1,0.1,0.3,0.3", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is the input" in lines[0], result.stderr
    assert_untouched(src, original, before)
    assert listing(tmp_path) == files, "something was written"


def run_worker(stage: str, env: dict[str, str], log: Path) -> tuple[int, dict, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOJOB_")}
    full.update(env, VIDEOJOB_TERMINATION_LOG=str(log), PYTHONSAFEPATH="1")
    proc = subprocess.run(
        [sys.executable, "-m", "videojob.worker", stage], env=full, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, json.loads(log.read_text()), proc.stderr


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("stage", ["detect", "finalize"])
def test_worker_refuses_an_output_that_is_the_input(tmp_path: Path, original: bytes, how: str, stage: str) -> None:
    src, out = spelled(tmp_path, original, how)
    work = tmp_path / "media" / "work"
    if stage == "finalize":
        work.mkdir()  # finalize must refuse before it even reads the plan
    before, files = os.stat(src), listing(tmp_path)
    config = {"detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]}}
    env = {
        "VIDEOJOB_INPUT": str(src),
        "VIDEOJOB_OUTPUT": str(out),
        "VIDEOJOB_WORKDIR": str(work),
        "VIDEOJOB_CONFIG": json.dumps(config),
        "VIDEOJOB_INPUT_VOLUME": str(tmp_path / "media"),
        "VIDEOJOB_OUTPUT_VOLUME": str(tmp_path / "media"),
    }
    rc, message, err = run_worker(stage, env, tmp_path / "termination")
    assert rc == 2, (message, err)
    assert message["kind"] == "bad-input" and "is the input" in message["error"], message
    assert "Traceback" not in err
    assert_untouched(src, original, before)
    assert listing(tmp_path) == [*files, "termination"], "something was written"


def test_a_different_file_next_to_the_input_is_fine(tmp_path: Path, original: bytes) -> None:
    from videojob.pipeline.guard import refuse_output_over_input

    src = tmp_path / "in.mp4"
    src.write_bytes(original)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(original)  # same bytes, another file: overwriting it harms no input
    refuse_output_over_input(src, copy)
    refuse_output_over_input(src, tmp_path / "new.mp4")
