"""The output keeps the source's bit depth, chroma subsampling and HDR metadata (issue 11).

10-bit in gives 10-bit out (x264 High 10, x265 Main 10) with the mastering-display and content-light SEI,
4:4:4 stays 4:4:4, and an encoder that cannot hold the source (NVENC: 8-bit 4:2:0) is refused in one line
before any work.
Sources are tiny clips made here with the ffmpeg command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest
from support.cases import blur_config
from support.media import ffmpeg
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.pixfmt import read_hdr
from videojob.pipeline.runner import run_local

VIDEOJOB = Path(sys.executable).with_name("videojob")
MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
CLL = "1000,400"
PQ, BT2020 = 16, 9


def lavfi(size: str) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=12", "-frames:v", "12"]


@pytest.fixture(scope="module")
def hdr10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hdr") / "hdr10.mp4"
    params = f"log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:master-display={MASTER}"
    ffmpeg(*lavfi("64x48"), "-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-x265-params", f"{params}:max-cll={CLL}",
           "-tag:v", "hvc1", out)  # fmt: skip
    return out


def video_facts(path: Path) -> tuple[str, str | None, int, int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        cc = s.codec_context
        return cc.pix_fmt or "", cc.profile, cc.width, cc.height, frames


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_10bit_hdr_source_gives_10bit_hdr_output(hdr10: Path, tmp_path: Path, codec: str) -> None:
    assert video_facts(hdr10)[0] == "yuv420p10le"
    config = blur_config(2)
    config.encode.codec = codec  # type: ignore[assignment]
    config.encode.encoder = "software"
    out = tmp_path / "out.mp4"
    run_local(hdr10, out, config, workers=2)
    pix_fmt, profile, width, height, frames = video_facts(out)
    assert (pix_fmt, width, height, frames) == ("yuv420p10le", 64, 48, 12)
    assert profile == ("High 10" if codec == "h264" else "Main 10")
    hdr = read_hdr(out, 0)
    assert (hdr.master_display, hdr.max_cll) == (MASTER, CLL)
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc) == (BT2020, PQ)


def test_444_source_gives_444_output(tmp_path: Path) -> None:
    source = tmp_path / "444.mp4"
    ffmpeg(*lavfi("64x48"), "-pix_fmt", "yuv444p", "-c:v", "libx264", "-crf", "10", source)
    out = tmp_path / "out.mp4"
    run_local(source, out, blur_config(2), workers=2)
    pix_fmt, profile, width, height, frames = video_facts(out)
    assert (pix_fmt, width, height, frames) == ("yuv444p", 64, 48, 12)
    assert profile is not None and "4:4:4" in profile


def test_nvenc_cannot_hold_10bit_and_says_so_before_any_work(hdr10: Path, tmp_path: Path) -> None:
    config = blur_config(2)
    config.encode.encoder = "nvenc"
    work = tmp_path / "work"
    with pytest.raises(BadInputError, match="yuv420p10le"):
        run_local(hdr10, tmp_path / "out.mp4", config, workdir=work, workers=2)
    assert not (tmp_path / "out.mp4").exists()
    assert not (work / "plan.json").exists()
    cli = subprocess.run(
        [str(VIDEOJOB), "run", str(hdr10), "-o", str(tmp_path / "cli.mp4"), "--encoder", "nvenc"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert cli.returncode == 2, cli.stderr
    lines = cli.stderr.splitlines()
    assert len(lines) == 1 and "nvenc" in lines[0] and "Traceback" not in cli.stderr, cli.stderr
    assert not (tmp_path / "cli.mp4").exists()
