"""One encoder and one set of parameter sets per job.

Finalize joins segments by packet copy under the stream header (extradata: SPS/PPS) of segment 0. Segments made by
another encoder (NVENC on some nodes, libx264 on others) or with other settings decode wrongly after the first
seam. So the plan pins the encoder for every segment, and finalize refuses segments whose parameter sets differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest
from support.cases import FRAMES, blur_config
from videojob.pipeline import encode as encode_module
from videojob.pipeline import stages
from videojob.pipeline.config import EncodeConfig
from videojob.pipeline.encode import SOFTWARE, encoder_options
from videojob.pipeline.errors import BadInputError, TransientError
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.segment import segment_paths


def nvenc_here(monkeypatch: pytest.MonkeyPatch, works: bool) -> None:
    """Pretend this node has (or has not) a working NVENC: what differs from node to node in a cluster."""
    monkeypatch.setattr(encode_module, "encoder_works", lambda name: works if "nvenc" in name else True)


def extradata(path: Path) -> bytes:
    with av.open(str(path)) as c:
        return bytes(c.streams.video[0].codec_context.extradata or b"")


def test_finalize_refuses_segments_with_other_parameter_sets(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(3))
    stages.process_segment(clip, work, 0)
    stages.process_segment(clip, work, 2)

    # Segment 1 as another node's encoder would make it: x264 at another preset (no CABAC, no 8x8 transform: a
    # Constrained Baseline SPS and another PPS), all else equal.
    def other_preset(name: str, cfg: EncodeConfig, *args: Any, **kwargs: Any) -> dict[str, str]:
        return encoder_options(name, cfg.model_copy(update={"preset": "ultrafast"}), *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(encode_module, "encoder_options", other_preset)
        stages.process_segment(clip, work, 1)
    assert extradata(segment_paths(work, 1)[0]) != extradata(segment_paths(work, 0)[0])

    out = tmp_path / "out.mp4"
    with pytest.raises(BadInputError) as info:
        stages.finalize(clip, work, out)
    message = str(info.value)
    assert "\n" not in message and "parameter sets" in message
    assert "segment 1" in message and "segment 0" not in message.split("than")[0], message
    assert not out.exists()

    # Its result was removed, so the rerun makes it again, with the job's settings, and it joins.
    assert not segment_paths(work, 1)[1].exists() and segment_paths(work, 0)[1].exists()
    assert stages.process_segment(clip, work, 1).skipped is False
    assert stages.finalize(clip, work, out).frames_out == FRAMES


def test_finalize_refuses_segments_from_different_encoders(clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    stages.detect_and_plan(clip, work, blur_config(2))
    for i in range(2):
        stages.process_segment(clip, work, i)
    # A result that says another encoder made it (an older videojob chose per node) is never joined.
    meta = segment_paths(work, 1)[1]
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "encoder": "h264_nvenc"}))
    with pytest.raises(BadInputError, match="segment 1") as info:
        stages.finalize(clip, work, tmp_path / "out.mp4")
    assert "h264_nvenc" in str(info.value) and "\n" not in str(info.value)


def test_the_plan_pins_the_encoder_and_segments_use_it(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    nvenc_here(monkeypatch, False)
    plan = stages.detect_and_plan(clip, work, blur_config(2))
    assert plan.encoder == SOFTWARE["h264"] == SegmentPlan.read(work).encoder
    # A segment on a node where NVENC works still uses the job's encoder, not its own choice.
    nvenc_here(monkeypatch, True)
    assert stages.process_segment(clip, work, 0).encoder == "libx264"
    assert stages.process_segment(clip, work, 1).encoder == "libx264"
    assert stages.finalize(clip, work, tmp_path / "out.mp4").encoder == "libx264"


def test_a_pinned_nvenc_that_this_node_cannot_open_is_retried_elsewhere(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    nvenc_here(monkeypatch, True)
    plan = stages.detect_and_plan(clip, work, blur_config(2))
    assert plan.encoder == "h264_nvenc"
    nvenc_here(monkeypatch, False)
    with pytest.raises(TransientError, match="h264_nvenc") as info:  # exit 75: another pod may have one
        stages.process_segment(clip, work, 0)
    assert "\n" not in str(info.value)
    assert not segment_paths(work, 0)[0].exists()


def test_without_an_encoder_here_the_first_segment_pins_it(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster's detect pod may have no GPU while the segment pods do: it leaves `auto` to the first segment,
    which pins its choice for the job (encoder.json); every other segment uses that one."""
    work = tmp_path / "work"
    nvenc_here(monkeypatch, False)
    plan = stages.detect_and_plan(clip, work, blur_config(2), pin_encoder_here=False)
    assert plan.encoder is None
    assert stages.process_segment(clip, work, 0).encoder == "libx264"
    assert json.loads((work / "encoder.json").read_text())["encoder"] == "libx264"
    nvenc_here(monkeypatch, True)  # another node, with NVENC
    assert stages.process_segment(clip, work, 1).encoder == "libx264"


def test_the_worker_leaves_auto_to_the_segments_when_its_node_has_no_nvenc(tmp_path: Path) -> None:
    from support.media import make_clip

    clip = make_clip(tmp_path / "in.mp4", 64, 48, frames=12, fps=12, gop=6, audio=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOJOB_")}
    config = {"detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]}}
    env.update(
        VIDEOJOB_INPUT=str(clip),
        VIDEOJOB_WORKDIR=str(tmp_path / "work"),
        VIDEOJOB_CONFIG=json.dumps(config),
        VIDEOJOB_TERMINATION_LOG=str(tmp_path / "termination"),
        PYTHONSAFEPATH="1",
    )
    command = [sys.executable, "-m", "videojob.worker", "detect"]
    assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    plan = SegmentPlan.read(tmp_path / "work")
    nvenc = encode_module.encoder_works("h264_nvenc")
    assert plan.encoder == ("h264_nvenc" if nvenc else None)
