"""Failures end in `Failed` with a reason a person can act on, in status and as an Event."""

from __future__ import annotations

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_corrupt_input_fails_with_the_reason_and_the_operator_keeps_serving(operator, videojobs) -> None:
    bad = videojobs.volume / "in" / "broken.mp4"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video " * 200)
    videojobs.apply("broken", videojobs.spec(path="in/broken.mp4", out="out/broken.mp4"))
    st = videojobs.wait_phase("broken", "Failed", timeout=90)
    assert st["message"].startswith("detect: ") and "broken.mp4" in st["message"], st["message"]
    failed = {c["type"]: c for c in st["conditions"]}["Failed"]
    assert failed["status"] == "True" and failed["reason"] == "DetectFailed"
    warnings = [e for e in videojobs.events("broken") if e["type"] == "Warning"]
    assert any(e["reason"] == "DetectFailed" and "broken.mp4" in e["message"] for e in warnings)
    assert len(videojobs.runs("broken", "detect")) == 1, "bad input is not retried"
    assert videojobs.job("broken") is None and not (videojobs.volume / "out" / "broken.mp4").exists()

    videojobs.clip(frames=48)
    videojobs.apply("fine", videojobs.spec(segments=2))
    videojobs.wait_phase("fine", "Succeeded", timeout=120)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48
    assert videojobs.status("broken")["phase"] == "Failed"


def test_bad_input_in_a_segment_fails_the_index_without_retries(kube, operator, videojobs) -> None:
    clip = videojobs.clip(frames=48)
    videojobs.apply("changed", videojobs.spec(segments=2, suspend=True, retriesPerSegment=3))
    videojobs.wait_phase("changed", "Processing", timeout=90)
    with clip.open("ab") as f:  # the input changes after planning: every segment refuses it (exit code 2)
        f.write(b"\x00" * 64)
    videojobs.apply("changed", videojobs.spec(segments=2, suspend=False, retriesPerSegment=3))
    st = videojobs.wait_phase("changed", "Failed", timeout=120)
    assert st["message"].startswith("segment ") and "changed since it was planned" in st["message"], st
    assert {c["type"]: c for c in st["conditions"]}["Failed"]["reason"] == "SegmentFailed"
    runs = [r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("changed")]
    assert len(runs) == len(set(runs)), f"FailIndex: no index runs twice ({runs})"
    assert any(e["reason"] == "SegmentFailed" for e in videojobs.events("changed"))


def test_output_onto_the_input_is_refused_by_the_operator(operator, videojobs) -> None:
    videojobs.clip(frames=24)
    videojobs.apply("self", videojobs.spec(out="in/clip.mp4"))
    st = videojobs.wait_phase("self", "Failed", timeout=60)
    assert "spec.output.path" in st["message"] and "input itself" in st["message"]
    assert videojobs.children("self") == []


def test_output_that_links_to_the_input_fails_in_detect_before_any_segment(kube, operator, videojobs) -> None:
    """Another spelling of the input (a symbolic link on the volume) passes the operator's plain path check;
    the detect pod resolves it and refuses, so no segment pod ever runs and the input is untouched."""
    source = videojobs.clip(frames=24)
    before = source.read_bytes()
    link = videojobs.volume / "out" / "link.mp4"
    link.parent.mkdir()
    link.symlink_to("../in/clip.mp4")
    videojobs.apply("linked", videojobs.spec(out="out/link.mp4"))
    st = videojobs.wait_phase("linked", "Failed", timeout=90)
    assert "is the input" in st["message"] or "input itself" in st["message"], st["message"]
    assert videojobs.runs("linked", "segments") == []
    assert len(videojobs.runs("linked", "detect")) == 1, "bad input is not retried"
    assert source.read_bytes() == before and link.is_symlink()


def test_output_that_can_never_be_written_fails_in_detect_before_any_segment(kube, operator, videojobs) -> None:
    """Issue 12 D4: a directory (`results/`) or a read-only folder as the output fails in the one detect run, as bad
    input (never retried), naming the path; no segment Job is ever made."""
    videojobs.clip(frames=24)
    (videojobs.volume / "results").mkdir()
    read_only = videojobs.volume / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)  # owned by root, the pods run as uid 10001
    videojobs.apply("to-dir", videojobs.spec(out="results/"))
    videojobs.apply("to-ro", videojobs.spec(out="ro/clip.mp4"))
    for name, path, words in (
        ("to-dir", "/videojob/data/results", "is a directory"),
        ("to-ro", "/videojob/data/ro", "not writable"),
    ):
        st = videojobs.wait_phase(name, "Failed", timeout=90)
        assert path in st["message"] and words in st["message"], st["message"]
        assert {c["type"]: c for c in st["conditions"]}["Failed"]["reason"] == "DetectFailed"
        assert len(videojobs.runs(name, "detect")) == 1, "bad input is not retried"
        assert videojobs.runs(name, "segments") == [] and videojobs.job(name) is None
    assert list(read_only.iterdir()) == [] and list((videojobs.volume / "results").iterdir()) == []
