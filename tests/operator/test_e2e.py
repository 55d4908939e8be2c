"""A VideoJob runs end to end on the real control plane and the real node: detect pod → Indexed Job → finalize,
every pod in a container of the slim worker image (tests/cluster/node.py; the node's nvidia.com/gpu is an
advertised extended resource with no GPU behind it, so the workers take their CPU paths).

The operator runs as its own process under the ServiceAccount of deploy/manifests/rbac.yaml.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.media import audio_span, decode
from videojob.pipeline.probe import probe
from videojob.pipeline.sample import make_sample, write_face_template

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_videojob_succeeds_with_every_frame_and_the_audio(kube, operator, videojobs) -> None:
    source = videojobs.clip(frames=72)
    started = time.monotonic()
    videojobs.apply("clip", videojobs.spec(segments=3, maxParallelPods=2))
    st = videojobs.wait_phase("clip", "Succeeded", timeout=150)
    elapsed = time.monotonic() - started
    print(f"end to end: {elapsed:.1f}s")

    out = videojobs.volume / "out" / "clip.mp4"
    info, src = probe(out), probe(source)
    assert info.frames == 72 and (info.width, info.height) == (160, 120)
    a_in, a_out = audio_span(source), audio_span(out)
    assert a_in is not None and a_out is not None
    assert a_out[1] == pytest.approx(a_in[1], abs=0.05) and a_out[0] == pytest.approx(a_in[0], abs=0.05)
    assert info.duration == pytest.approx(src.duration, abs=0.05)

    vj = videojobs.get("clip")
    assert st["segments"] == {"total": 3, "succeeded": 3, "failed": 0, "active": 0, "retries": 0}
    assert st["frames"] == {"total": 72, "done": 72} and st["progress"] == 100
    assert st["output"]["bytes"] == out.stat().st_size
    assert st["output"]["path"] == f"{videojobs.claim}:out/clip.mp4"
    assert set(st["stageSeconds"]) == {"detect", "process", "finalize"}
    assert st["observedGeneration"] == vj["metadata"]["generation"]
    assert st["startTime"] <= st["completionTime"]
    conditions = {c["type"]: c for c in st["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "Succeeded"
    assert conditions["Detected"]["status"] == "True" and conditions["Processed"]["status"] == "True"
    reasons = {e["reason"] for e in videojobs.events("clip")}
    assert {"Started", "Planned", "SegmentsDone", "Succeeded"} <= reasons

    # Children: deterministic names, owned by the VideoJob, GPU pods one per segment index.
    uid = vj["metadata"]["uid"]
    job = videojobs.job("clip")
    assert job is not None and job["metadata"]["ownerReferences"][0]["uid"] == uid
    assert job["spec"]["completionMode"] == "Indexed" and job["status"]["completedIndexes"] == "0-2"
    limits = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert sorted(r.env["JOB_COMPLETION_INDEX"] for r in videojobs.runs("clip")) == ["0", "1", "2"]
    assert {r.node for r in videojobs.runs("clip")} == {kube.node.name}
    assert len(videojobs.runs("clip", "detect")) == 1 and len(videojobs.runs("clip", "finalize")) == 1
    # Human-readable status: `kubectl get vj`.
    row = kube.kubectl("get", "vj", "clip", "-n", videojobs.namespace, "--no-headers").stdout.split()
    assert row[:5] == ["clip", "Succeeded", "3", "3", "100"]


def test_suspended_job_waits_then_resumes(kube, operator, videojobs) -> None:
    videojobs.clip(frames=48)
    videojobs.apply("held", videojobs.spec(segments=2, suspend=True))
    st = videojobs.wait_phase("held", "Processing", timeout=90)
    kube.wait_for("the Job to be suspended", lambda: (videojobs.job("held") or {}).get("spec", {}).get("suspend"))
    time.sleep(3)
    assert videojobs.runs("held") == [], "no segment pod may run while suspended"
    st = videojobs.status("held")
    assert {c["type"]: c["status"] for c in st["conditions"]}["Suspended"] == "True"
    assert st["message"].startswith("suspended")
    videojobs.apply("held", videojobs.spec(segments=2, suspend=False))
    videojobs.wait_phase("held", "Succeeded", timeout=120)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48
    assert {"Suspended", "Resumed"} <= {e["reason"] for e in videojobs.events("held")}


def test_finished_videojob_is_deleted_after_its_ttl(kube, operator, videojobs) -> None:
    videojobs.clip(frames=24)
    videojobs.apply("brief", videojobs.spec(segments=1, ttlSecondsAfterFinished=2))
    videojobs.wait_phase("brief", "Succeeded", timeout=120)
    gone = kube.wait_for(
        "the VideoJob to expire",
        lambda: kube.kubectl("get", "videojob", "brief", "-n", videojobs.namespace, check=False).returncode != 0,
        timeout=60,
    )
    assert gone
    assert (videojobs.volume / "out" / "clip.mp4").is_file(), "the output outlives its VideoJob"


def test_detected_regions_reach_every_segment(kube, operator, videojobs) -> None:
    """A template detector with its image on the claim (a relative path, as users write it): the moving face is
    found by the segment pods on their own sampled frames (with context across seams: the detect pod only plans)
    and filled on every frame, across seams."""
    source = make_sample(videojobs.volume / "in" / "walk.mp4", seconds=3.0)
    write_face_template(videojobs.volume / "in" / "face.png")
    spec = videojobs.spec(path="in/walk.mp4", out="out/walk.mp4", segments=3)
    spec["detector"] = {"kind": "template", "template": "in/face.png", "sampleEvery": 5}
    spec["operation"] = {"kind": "fill"}
    videojobs.apply("walk", spec)
    videojobs.wait_phase("walk", "Succeeded", timeout=150)

    _, src, _ = decode(source)
    _, out, _ = decode(videojobs.volume / "out" / "walk.mp4")
    assert len(out) == len(src) == 75
    height, width = src[0].shape[:2]
    r = height // 8
    for i, (a, b) in enumerate(zip(src, out, strict=True)):
        cx, cy = int(width * (0.15 + 0.5 * i / 75)), int(height * 0.55)
        face = b[cy - r // 2 : cy + r // 2, cx - r // 2 : cx + r // 2]
        assert face.mean() < 20, f"frame {i}: the face was not filled ({face.mean():.0f})"
        below = (slice(int(0.85 * height), height), slice(0, width))  # away from the face's path
        assert np.abs(a[below].astype(int) - b[below]).mean() < 2, f"frame {i}: pixels away from it changed"
