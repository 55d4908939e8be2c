"""The pool stage (`python -m videojob.worker pool`) as pods run it: subprocesses sharing one work directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.media import make_clip
from videojob.pipeline.probe import probe
from videojob.worker.claims import Claim, claim_path

SEGMENTS = 8


def worker_env(env: dict[str, str], slot: int, log: Path) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOJOB_")}
    full.update(env, VIDEOJOB_TERMINATION_LOG=str(log), PYTHONSAFEPATH="1", JOB_COMPLETION_INDEX=str(slot))
    full["HOSTNAME"] = f"pool-{slot}"
    return full


def start(stage: str, env: dict[str, str], slot: int, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / f"termination-{stage}-{slot}"
    cmd = [sys.executable, "-m", "videojob.worker", stage]
    proc = subprocess.Popen(
        cmd, env=worker_env(env, slot, log), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, log


def finish(proc: subprocess.Popen[str], log: Path) -> tuple[int, dict, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, json.loads(log.read_text()), err


@pytest.fixture
def job(tmp_path: Path) -> dict[str, str]:
    clip = make_clip(tmp_path / "in.mp4", 160, 120, frames=96, fps=24)
    config = {
        "detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]},
        "segmentation": {"segments": SEGMENTS, "min_frames_per_segment": 4},
        "encode": {"encoder": "software"},
    }
    env = {
        "VIDEOJOB_INPUT": str(clip),
        "VIDEOJOB_WORKDIR": str(tmp_path / "work"),
        "VIDEOJOB_CONFIG": json.dumps(config),
        "VIDEOJOB_JOB_KEY": "ns/clip",
        "VIDEOJOB_POOL_SLOTS": "2",
        "VIDEOJOB_RETRIES_PER_SEGMENT": "1",
    }
    rc, detect, err = finish(*start("detect", env, 0, tmp_path))
    assert rc == 0, err
    assert detect["segments"] == SEGMENTS
    return env


def test_two_pool_workers_share_the_segments_each_encoded_once(job: dict[str, str], tmp_path: Path) -> None:
    procs = [start("pool", job, slot, tmp_path) for slot in range(2)]
    results = [finish(*p) for p in procs]
    for rc, message, err in results:
        assert rc == 0, err
        assert set(message["timings"]) >= {"stage", "model", "end"}
    # Each segment encoded by exactly one of them: the encoded counts add up, and the frames too.
    assert sum(m["segments"] for _, m, _ in results) == SEGMENTS
    assert sum(m["frames"] for _, m, _ in results) == 96
    assert all(m["segments"] > 0 for _, m, _ in results), "both workers took a share"
    assert not list((Path(job["VIDEOJOB_WORKDIR"]) / "claims").glob("*.claim"))
    # A third worker later (a retried pod) finds nothing to do.
    rc, again, err = finish(*start("pool", job, 1, tmp_path))
    assert rc == 0 and again["segments"] == 0, err
    out = tmp_path / "out.mp4"
    rc, final, err = finish(*start("finalize", {**job, "VIDEOJOB_OUTPUT": str(out)}, 0, tmp_path))
    assert rc == 0, err
    assert final["frames"] == 96 and probe(out).frames == 96


def test_bad_input_fails_the_pool_worker_naming_the_segment(job: dict[str, str], tmp_path: Path) -> None:
    with open(job["VIDEOJOB_INPUT"], "ab") as f:  # the input changed since it was planned
        f.write(b"\0" * 100)
    rc, message, err = finish(*start("pool", job, 0, tmp_path))
    assert rc == 2, err
    assert message["kind"] == "bad-input"
    assert message["error"].startswith("segment 0: input ") and "changed since it was planned" in message["error"]
    assert "Traceback" not in err
    # The segment is refused to every worker after it, with the same error, without trying it again.
    rc, again, _ = finish(*start("pool", job, 0, tmp_path))
    assert (rc, again["error"]) == (2, message["error"])


def test_a_segment_out_of_retries_fails_the_pool_worker(job: dict[str, str], tmp_path: Path) -> None:
    workdir = Path(job["VIDEOJOB_WORKDIR"])
    path = claim_path(workdir, 5)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two failed attempts already (retriesPerSegment 1 allows two in all), the last by a pod that crashed.
    claim = Claim(holder="old-pod/1", gen=1, failures=2, state="released", error="RuntimeError: encoder crashed")
    path.write_text(json.dumps(claim.__dict__))
    rc, message, err = finish(*start("pool", job, 0, tmp_path))
    assert rc == 2, err
    assert message["error"] == "segment 5: RuntimeError: encoder crashed"


def test_a_worker_stays_for_a_segment_another_holds_and_takes_it_over_when_its_holder_dies(
    job: dict[str, str], tmp_path: Path
) -> None:
    """The holder of segment 3 died (its heartbeat stopped): the worker does the rest, then waits for that claim to
    go stale and does it too, rather than leaving (the Job would complete without segment 3)."""
    path = claim_path(Path(job["VIDEOJOB_WORKDIR"]), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Claim(holder="dead-pod/1").__dict__))
    rc, message, err = finish(*start("pool", {**job, "VIDEOJOB_CLAIM_STALE_SECONDS": "3"}, 0, tmp_path))
    assert rc == 0, err
    assert message["segments"] == SEGMENTS and message["frames"] == 96
    assert not path.exists()
