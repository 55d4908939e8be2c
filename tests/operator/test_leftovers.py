"""Nothing left behind, nothing overwritten: one writer per output (a Lease), and the work directory removed after
success (by finalize) and after failure (by a cleanup Job) unless spec.keepWorkdir (issue 12: D5, D9)."""

from __future__ import annotations

import hashlib
import json

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LEASE_PREFIX = "videojob-output-"


def output_leases(kube, namespace: str) -> list[dict]:
    out = kube.kubectl("get", "leases", "-n", namespace, "-o", "json").stdout
    return [x for x in json.loads(out)["items"] if x["metadata"]["name"].startswith(LEASE_PREFIX)]


def ended(videojobs, *names: str) -> dict[str, dict]:
    def done() -> dict[str, dict] | None:
        got = {n: videojobs.status(n) for n in names}
        return got if all(s.get("phase") in ("Succeeded", "Failed") for s in got.values()) else None

    return videojobs.kube.wait_for(f"{names} to end", done, timeout=180)


def test_two_jobs_writing_one_output_one_fails_naming_the_path_and_the_other(kube, operator, videojobs) -> None:
    videojobs.clip(frames=48)
    spec = videojobs.spec(segments=2)
    videojobs.apply("first", spec)
    videojobs.apply("second", spec)  # at once: the operator sees both in the same few ticks
    st = ended(videojobs, "first", "second")
    phases = sorted(s["phase"] for s in st.values())
    assert phases == ["Failed", "Succeeded"], st
    winner = next(n for n, s in st.items() if s["phase"] == "Succeeded")
    loser = next(n for n, s in st.items() if s["phase"] == "Failed")
    message = st[loser]["message"]
    assert "media:out/clip.mp4" in message and f"{videojobs.namespace}/{winner}" in message, message
    assert {c["type"]: c for c in st[loser]["conditions"]}["Failed"]["reason"] == "OutputInUse"
    assert videojobs.runs(loser, "detect") == [] and videojobs.runs(loser, "segments") == [], "no pod of the loser"
    assert any(e["reason"] == "OutputInUse" for e in videojobs.events(loser))
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48
    # Released when the winner ended: a later job with the same output runs.
    kube.wait_for("the output's Lease to go", lambda: output_leases(kube, videojobs.namespace) == [], timeout=30)
    # A Lease left by a holder that is gone (its release lost, say) is taken over, not obeyed.
    name = LEASE_PREFIX + hashlib.sha256(b"media:out/clip.mp4").hexdigest()[:32]
    stale = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": videojobs.namespace},
        "spec": {"holderIdentity": f"{videojobs.namespace}/ghost/00000000-0000-0000-0000-000000000000"},
    }
    kube.kubectl("create", "-f", "-", input=json.dumps(stale))
    videojobs.apply("third", spec)
    videojobs.wait_phase("third", "Succeeded", timeout=150)
    assert output_leases(kube, videojobs.namespace) == []


def test_a_live_writer_holds_the_output_until_it_ends(kube, operator, videojobs) -> None:
    """The Lease while the holder runs: another job with the output spelled differently fails; one with another
    output runs beside it."""
    videojobs.clip(frames=48)
    videojobs.apply("holder", videojobs.spec(segments=2, suspend=True))
    videojobs.wait_phase("holder", "Processing", timeout=90)
    (lease,) = output_leases(kube, videojobs.namespace)
    uid = videojobs.get("holder")["metadata"]["uid"]
    assert lease["spec"]["holderIdentity"] == f"{videojobs.namespace}/holder/{uid}"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == uid
    videojobs.apply("same", videojobs.spec(segments=2, out="out/./clip.mp4"))
    st = videojobs.wait_phase("same", "Failed", timeout=60)
    assert "media:out/clip.mp4" in st["message"] and "/holder" in st["message"], st["message"]
    videojobs.apply("elsewhere", videojobs.spec(segments=2, out="out/other.mp4"))
    videojobs.wait_phase("elsewhere", "Succeeded", timeout=150)
    assert videojobs.status("holder")["phase"] == "Processing"
    videojobs.apply("holder", videojobs.spec(segments=2, suspend=False))
    videojobs.wait_phase("holder", "Succeeded", timeout=150)
    kube.wait_for("every output Lease to go", lambda: output_leases(kube, videojobs.namespace) == [], timeout=30)


def test_work_directory_is_removed_after_success_unless_kept(operator, videojobs) -> None:
    videojobs.clip(frames=48)
    videojobs.apply("tidy", videojobs.spec(segments=2))
    videojobs.apply("kept", videojobs.spec(segments=2, out="out/kept.mp4", keepWorkdir=True))
    videojobs.wait_phase("tidy", "Succeeded", timeout=150)
    videojobs.wait_phase("kept", "Succeeded", timeout=150)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48
    assert not videojobs.workdir("tidy").exists(), "finalize removes the work directory after the rename"
    assert (videojobs.workdir("kept") / "plan.json").exists()
    assert sorted(p.name for p in (videojobs.volume / "out").iterdir()) == ["clip.mp4", "kept.mp4"]


def test_work_directory_is_removed_after_a_failure_unless_kept(kube, operator, videojobs) -> None:
    clip = videojobs.clip(path="in/changing.mp4", frames=48)

    def spec(name: str, suspend: bool) -> dict:
        extra = {"keepWorkdir": True} if name == "kept" else {}
        out = f"out/{name}.mp4"
        return videojobs.spec(path="in/changing.mp4", out=out, segments=2, suspend=suspend, **extra)

    videojobs.apply("broken", spec("broken", True))
    videojobs.apply("kept", spec("kept", True))
    videojobs.wait_phase("broken", "Processing", timeout=90)
    videojobs.wait_phase("kept", "Processing", timeout=90)
    assert (videojobs.workdir("broken") / "plan.json").exists()
    with clip.open("ab") as f:  # the input changes after planning: every segment refuses it (exit code 2)
        f.write(b"\x00" * 64)
    for name in ("broken", "kept"):
        videojobs.apply(name, spec(name, False))
    videojobs.wait_phase("broken", "Failed", timeout=120)
    videojobs.wait_phase("kept", "Failed", timeout=120)
    kube.wait_for("the failed job's work directory to go", lambda: not videojobs.workdir("broken").exists(), timeout=90)
    assert (videojobs.workdir("kept") / "plan.json").exists(), "spec.keepWorkdir keeps it for a look or a resume"
    assert any(e["reason"] == "CleaningUp" for e in videojobs.events("broken"))
    kube.wait_for("the cleanup pod to end", lambda: [r.exit_code for r in videojobs.runs("broken", "cleanup")] == [0])
    assert videojobs.runs("kept", "cleanup") == []
    assert (videojobs.volume / "in" / "changing.mp4").exists() and not (
        videojobs.volume / "out" / "broken.mp4"
    ).exists()
