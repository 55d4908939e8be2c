"""The worker entrypoint, run as the pods run it (a subprocess, env only), on a real generated clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.media import make_clip
from videojob.pipeline.probe import probe


def run_worker(stage: str, env: dict[str, str], tmp_path: Path, wrap: list[str] | None = None) -> tuple[int, dict, str]:
    log = tmp_path / f"termination-{stage}-{env.get('JOB_COMPLETION_INDEX', '')}"
    full = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOJOB_")}
    full.update(env, VIDEOJOB_TERMINATION_LOG=str(log), PYTHONSAFEPATH="1")
    command = [*(wrap or []), sys.executable, "-m", "videojob.worker", stage]
    proc = subprocess.run(command, env=full, capture_output=True, text=True, timeout=120)
    text = log.read_text()
    assert text.endswith("\n") and text.count("\n") == 1, "one line of JSON"
    assert len(text.encode()) <= 4097
    return proc.returncode, json.loads(text), proc.stderr


@pytest.fixture
def job(tmp_path: Path) -> dict[str, str]:
    clip = make_clip(tmp_path / "in.mp4", 160, 120, frames=48, fps=24)
    config = {
        "detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]},
        "segmentation": {"segments": 3, "min_frames_per_segment": 4},
        "encode": {"encoder": "software"},
    }
    return {
        "VIDEOJOB_INPUT": str(clip),
        "VIDEOJOB_WORKDIR": str(tmp_path / "work"),
        "VIDEOJOB_CONFIG": json.dumps(config),
        "VIDEOJOB_JOB_KEY": "ns/clip",
    }


def test_three_stages_produce_the_output(job: dict[str, str], tmp_path: Path) -> None:
    rc, detect, _ = run_worker("detect", job, tmp_path)
    assert rc == 0, detect
    assert detect["segments"] == 3 and detect["frames"] == 48
    assert (detect["width"], detect["height"]) == (160, 120) and detect["fps"] == pytest.approx(24)
    assert detect["regions"] > 0
    frames = 0
    for index in range(3):
        rc, seg, err = run_worker("segment", {**job, "JOB_COMPLETION_INDEX": str(index)}, tmp_path)
        assert rc == 0, err
        assert seg["index"] == index and seg["skipped"] is False
        frames += seg["frames"]
    assert frames == 48
    # A re-run of a finished index (a retried pod) skips the work.
    rc, again, _ = run_worker("segment", {**job, "JOB_COMPLETION_INDEX": "1"}, tmp_path)
    assert rc == 0 and again["skipped"] is True
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    rc, final, err = run_worker("finalize", {**job, "VIDEOJOB_OUTPUT": str(out)}, tmp_path)
    assert rc == 0, err
    assert final["frames"] == 48 and final["bytes"] == out.stat().st_size
    info = probe(out)
    assert info.frames == 48 and len(info.audio) == 1


def test_corrupt_input_is_bad_input_exit_2(job: dict[str, str], tmp_path: Path) -> None:
    Path(job["VIDEOJOB_INPUT"]).write_bytes(b"this is not a video" * 100)
    rc, message, err = run_worker("detect", job, tmp_path)
    assert rc == 2
    assert message["kind"] == "bad-input" and message["error"]
    assert "\n" not in message["error"]
    assert "Traceback" not in err


def test_segment_index_outside_the_plan_is_bad_input(job: dict[str, str], tmp_path: Path) -> None:
    assert run_worker("detect", job, tmp_path)[0] == 0
    rc, message, _ = run_worker("segment", {**job, "JOB_COMPLETION_INDEX": "7"}, tmp_path)
    assert rc == 2 and "7" in message["error"]


def test_missing_environment_is_bad_input(job: dict[str, str], tmp_path: Path) -> None:
    env = dict(job)
    del env["VIDEOJOB_WORKDIR"]
    rc, message, _ = run_worker("detect", env, tmp_path)
    assert rc == 2 and "VIDEOJOB_WORKDIR" in message["error"]
    rc, message, _ = run_worker("segment", job, tmp_path)
    assert rc == 2 and "JOB_COMPLETION_INDEX" in message["error"]


def test_invalid_config_names_the_field(job: dict[str, str], tmp_path: Path) -> None:
    rc, message, _ = run_worker("detect", {**job, "VIDEOJOB_CONFIG": '{"encode": {"quality": 99}}'}, tmp_path)
    assert rc == 2 and "encode.quality" in message["error"]


def test_links_out_of_the_volume_are_bad_input(job: dict[str, str], tmp_path: Path) -> None:
    # The spec's paths are relative and without `..`, but a link on the shared volume could still lead out of it.
    volume, outside = tmp_path / "volume", tmp_path / "elsewhere"
    (volume / "in").mkdir(parents=True)
    outside.mkdir()
    Path(job["VIDEOJOB_INPUT"]).rename(outside / "clip.mp4")
    (volume / "in" / "clip.mp4").symlink_to(outside / "clip.mp4")
    env = {
        **job,
        "VIDEOJOB_INPUT": str(volume / "in" / "clip.mp4"),
        "VIDEOJOB_WORKDIR": str(volume / "work"),
        "VIDEOJOB_INPUT_VOLUME": str(volume),
        "VIDEOJOB_OUTPUT_VOLUME": str(volume),
    }
    rc, message, _ = run_worker("detect", env, tmp_path)
    assert rc == 2 and message["kind"] == "bad-input", message
    assert "outside its volume" in message["error"] and "\n" not in message["error"]
    assert not (volume / "work").exists()

    # An output directory that is a link out of the volume: refused before anything is written there.
    (volume / "in" / "clip.mp4").unlink()
    (outside / "clip.mp4").rename(volume / "in" / "clip.mp4")
    (volume / "out").symlink_to(outside, target_is_directory=True)
    assert run_worker("detect", env, tmp_path)[0] == 0
    rc, message, _ = run_worker("finalize", {**env, "VIDEOJOB_OUTPUT": str(volume / "out" / "x.mp4")}, tmp_path)
    assert rc == 2 and "output" in message["error"] and "outside its volume" in message["error"]
    assert list(outside.iterdir()) == []

    # A model path through a link is refused too; a link that stays inside the volume is fine.
    (volume / "models").symlink_to(outside, target_is_directory=True)
    config = json.loads(job["VIDEOJOB_CONFIG"])
    config["detector"]["template"] = str(volume / "models" / "logo.png")
    config["detector"]["kind"] = "template"
    rc, message, _ = run_worker("detect", {**env, "VIDEOJOB_CONFIG": json.dumps(config)}, tmp_path)
    assert rc == 2 and "detector.template" in message["error"]
    (volume / "in" / "same.mp4").symlink_to(volume / "in" / "clip.mp4")
    assert run_worker("detect", {**env, "VIDEOJOB_INPUT": str(volume / "in" / "same.mp4")}, tmp_path)[0] == 0


def test_unexpected_failure_is_retryable_exit_1(job: dict[str, str], tmp_path: Path) -> None:
    # WORKDIR below a regular file: an OS fault no spec change can explain, retried by the Job (exit 1).
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    rc, message, err = run_worker("detect", {**job, "VIDEOJOB_WORKDIR": str(blocker / "work")}, tmp_path)
    assert rc == 1, message
    assert message["kind"] == "internal" and "Error" in message["error"] and "\n" not in message["error"]
    assert "Traceback" in err  # the log keeps the whole story


def test_long_errors_are_cut_to_the_kubelet_limit() -> None:
    from videojob.worker import termination

    text = termination.encode({"error": "x" * 10000, "kind": "internal"})
    assert len(text.encode()) <= termination.LIMIT
    assert json.loads(text)["error"].endswith("...")


def test_sigterm_stops_the_worker_at_once_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """kubelet's SIGTERM (deletion, eviction, preemption). In a container the worker is PID 1, which gets no
    signal it has no handler for: without one it would run on until the grace period's SIGKILL."""
    import signal
    import time

    clip = make_clip(tmp_path / "long.mp4", 640, 360, frames=1200, fps=24)
    config = {
        "detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]},
        "segmentation": {"segments": 1, "min_frames_per_segment": 4},
        "encode": {"encoder": "software"},
    }
    job = {
        "VIDEOJOB_INPUT": str(clip),
        "VIDEOJOB_WORKDIR": str(tmp_path / "work"),
        "VIDEOJOB_CONFIG": json.dumps(config),
        "VIDEOJOB_JOB_KEY": "ns/long",
    }
    assert run_worker("detect", job, tmp_path)[0] == 0
    log = tmp_path / "termination"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOJOB_")}
    env.update(job, JOB_COMPLETION_INDEX="0", VIDEOJOB_TERMINATION_LOG=str(log), PYTHONSAFEPATH="1")
    err = (tmp_path / "stderr").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "videojob.worker", "segment"], env=env, stderr=err)
    time.sleep(2.0)  # imports done, encoding
    assert proc.poll() is None, f"the segment stage ended before the signal: {(tmp_path / 'stderr').read_text()}"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    err.close()
    assert rc == 143 and time.monotonic() - sent < 5
    assert json.loads(log.read_text())["kind"] == "terminated"
    assert not [p for p in (tmp_path / "work").rglob(".*tmp*")], "temp files left behind"


def test_the_entrypoint_knows_every_stage() -> None:
    from videojob.worker.__main__ import STAGES
    from videojob.worker.stages import RUN

    assert sorted(STAGES) == sorted(RUN)


def _volume_job(job: dict[str, str], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The job with its files on a `volume` folder, as the pods see their output volume."""
    volume = tmp_path / "volume"
    (volume / "in").mkdir(parents=True)
    Path(job["VIDEOJOB_INPUT"]).rename(volume / "in" / "clip.mp4")
    env = {
        **job,
        "VIDEOJOB_INPUT": str(volume / "in" / "clip.mp4"),
        "VIDEOJOB_WORKDIR": str(volume / ".videojob" / "ns.clip.0123abcd"),
        "VIDEOJOB_INPUT_VOLUME": str(volume),
        "VIDEOJOB_OUTPUT_VOLUME": str(volume),
    }
    return volume, env


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("directory", ["is a directory"]),
        ("no-suffix", ["no container format"]),
        ("read-only", ["not writable"]),
        ("file-in-the-way", ["cannot be created"]),
    ],
)
def test_detect_refuses_an_output_that_can_never_be_written(
    job: dict[str, str], tmp_path: Path, case: str, words: list[str]
) -> None:
    """Issue 12 D4: before any plan or segment, exit 2 (never retried), one line naming the output."""
    volume, env = _volume_job(job, tmp_path)
    out = {
        "directory": volume / "results",
        "no-suffix": volume / "results" / "clip",
        "read-only": volume / "ro" / "clip.mp4",
        "file-in-the-way": volume / "in" / "clip.mp4" / "x.mp4",
    }[case]
    if case == "directory":
        out.mkdir()
    wrap = None
    if case == "read-only":
        out.parent.mkdir()
        out.parent.chmod(0o555)
        if os.access(out.parent, os.W_OK):
            # Root writes through mode bits: the folder is made read-only as a read-only volume would be, by a
            # read-only bind mount in a mount namespace of the worker's own (gone with it; the host is untouched).
            script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
            wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(out.parent)]
    rc, message, err = run_worker("detect", {**env, "VIDEOJOB_OUTPUT": str(out)}, tmp_path, wrap)
    assert rc == 2 and message["kind"] == "bad-input", message
    assert all(w in message["error"] for w in words) and str(out.parent) in message["error"], message
    assert "Traceback" not in err
    assert not Path(env["VIDEOJOB_WORKDIR"]).exists(), "refused before the work directory is made"
    assert not (volume / "results" / "clip").exists() and not any(volume.rglob(".*tmp-*"))


def test_detect_accepts_an_output_folder_it_can_make_and_leaves_it_to_finalize(
    job: dict[str, str], tmp_path: Path
) -> None:
    volume, env = _volume_job(job, tmp_path)
    out = volume / "new" / "deeper" / "clip.mp4"
    assert run_worker("detect", {**env, "VIDEOJOB_OUTPUT": str(out)}, tmp_path)[0] == 0
    assert (volume / "new" / "deeper").is_dir() and list((volume / "new" / "deeper").iterdir()) == []
    for index in range(3):
        assert run_worker("segment", {**env, "JOB_COMPLETION_INDEX": str(index)}, tmp_path)[0] == 0
    rc, _, err = run_worker("finalize", {**env, "VIDEOJOB_OUTPUT": str(out)}, tmp_path)
    assert rc == 0, err
    assert probe(out).frames == 48
    assert Path(env["VIDEOJOB_WORKDIR"]).is_dir(), "kept when the operator does not ask for its removal"


def test_finalize_removes_the_work_directory_when_asked(job: dict[str, str], tmp_path: Path) -> None:
    volume, env = _volume_job(job, tmp_path)
    out = volume / "out.mp4"
    assert run_worker("detect", env, tmp_path)[0] == 0
    for index in range(3):
        assert run_worker("segment", {**env, "JOB_COMPLETION_INDEX": str(index)}, tmp_path)[0] == 0
    rc, _, err = run_worker(
        "finalize", {**env, "VIDEOJOB_OUTPUT": str(out), "VIDEOJOB_KEEP_WORKDIR": "false"}, tmp_path
    )
    assert rc == 0, err
    assert probe(out).frames == 48 and not Path(env["VIDEOJOB_WORKDIR"]).exists()


def test_cleanup_removes_only_its_own_work_directory(job: dict[str, str], tmp_path: Path) -> None:
    volume, env = _volume_job(job, tmp_path)
    assert run_worker("detect", env, tmp_path)[0] == 0
    work = Path(env["VIDEOJOB_WORKDIR"])
    other = volume / ".videojob" / "ns.other.deadbeef"
    other.mkdir()
    (other / "plan.json").write_text("{}")
    (work / "link").symlink_to(volume / "in", target_is_directory=True)  # followed by nothing
    rc, message, _ = run_worker("cleanup", env, tmp_path)
    assert rc == 0 and message == {"workdir": str(work), "removed": True}
    assert not work.exists() and (other / "plan.json").exists() and (volume / "in" / "clip.mp4").exists()
    assert run_worker("cleanup", env, tmp_path)[1]["removed"] is False, "a rerun finds nothing to do"
    # Anything but a folder directly under <volume>/.videojob is refused (exit 2), and left alone.
    for bad in (volume / "in", volume / ".videojob", tmp_path):
        rc, message, _ = run_worker("cleanup", {**env, "VIDEOJOB_WORKDIR": str(bad)}, tmp_path)
        assert rc == 2 and ("refusing" in message["error"] or "outside" in message["error"]), message
        assert bad.exists()
    (volume / ".videojob" / "sneaky").symlink_to(volume / "in", target_is_directory=True)
    rc, message, _ = run_worker("cleanup", {**env, "VIDEOJOB_WORKDIR": str(volume / ".videojob" / "sneaky")}, tmp_path)
    assert rc == 2 and "symbolic link" in message["error"] and (volume / "in" / "clip.mp4").exists()
