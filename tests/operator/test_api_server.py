"""The CRD on the real API server: accepted as structural, CEL rules compile, bad specs refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


def spec(**extra):
    base = {"input": {"claimName": "media", "path": "in/clip.mp4"}, "output": {"path": "out/clip.mp4"}}
    base.update(extra)
    return base


def test_sample_is_accepted_and_defaulted(kube, namespace, crd, videojobs) -> None:
    # The sample file as a user applies it: kubectl parses its YAML itself.
    sample = REPO / "deploy" / "manifests" / "videojob-sample.yaml"
    kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(sample))
    videojobs.apply("minimal", spec())
    got = videojobs.get("minimal")["spec"]
    # Defaults come from the API server, so `kubectl get -o yaml` shows what will run.
    # cpu and memory are per stage (operator/spec.py STAGE_DEFAULTS) unless set for all: the API server shows the
    # stage sections, empty.
    assert got["resources"] == {
        "gpuResourceName": "nvidia.com/gpu",
        "gpusPerPod": 1,
        "detect": {},
        "segments": {},
        "finalize": {},
    }
    assert got["detector"]["kind"] == "none" and got["encode"]["encoder"] == "auto"
    assert got["maxParallelPods"] == 8 and got["retriesPerSegment"] == 3 and got["suspend"] is False
    # Short name, category and printer columns.
    table = kube.kubectl("get", "vj", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "DONE", "SEGMENTS", "PROGRESS", "AGE"]
    assert "minimal" in kube.kubectl("get", "videojob", "-n", namespace, "-o", "name").stdout
    assert "videojob.videojob.dev/minimal" in kube.kubectl("get", "all", "-n", namespace, "-o", "name").stdout


@pytest.mark.parametrize(
    ("field", "bad", "words"),
    [
        ("spec.input.path", {"input": {"claimName": "media", "path": "/etc/passwd"}}, "relative"),
        ("spec.input.path", {"input": {"claimName": "media", "path": "a/../../b.mp4"}}, ".."),
        ("spec.output.path", {"output": {"path": ".."}}, ".."),
        ("spec.input.claimName", {"input": {"claimName": "Not_A_Claim", "path": "a.mp4"}}, "should match"),
        ("spec.encode.encoder", {"encode": {"encoder": "quicksync"}}, "supported values"),
        ("spec.maxParallelPods", {"maxParallelPods": 0}, "greater than or equal to 1"),
        ("spec.detector", {"detector": {"kind": "static"}}, "at least one region"),
        ("spec.detector", {"detector": {"kind": "yolo"}}, "model"),
        (
            "spec.detector.regions[0]",
            {"detector": {"kind": "static", "regions": [{"left": 0.8, "top": 0, "width": 0.5, "height": 0.1}]}},
            "past the frame",
        ),
        ("spec.segmentation", {"segmentation": {"minSegments": 9, "maxSegments": 2}}, "minSegments"),
        ("spec.resources.gpuResourceName", {"resources": {"gpuResourceName": "nvidia.com/gpu!"}}, "should match"),
        ("spec.decode.hwaccel", {"decode": {"hwaccel": "vaapi"}}, "supported values"),
        ("spec", {"decode": {"hwaccel": "cuda"}, "resources": {"gpusPerPod": 0}}, "decode.hwaccel 'cuda' needs a GPU"),
        (
            "spec",
            {"encode": {"encoder": "nvenc"}, "resources": {"gpusPerPod": 0}},
            "encode.encoder 'nvenc' needs a GPU",
        ),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(kube, crd, field: str, bad: dict, words: str) -> None:
    # A server-side dry run in `default`: full validation, nothing stored, no namespace to create per case.
    doc = {"apiVersion": "videojob.dev/v1alpha1", "kind": "VideoJob", "metadata": {"name": "bad"}, "spec": spec(**bad)}
    result = kube.kubectl("apply", "--dry-run=server", "-n", "default", "-f", "-", input=json.dumps(doc), check=False)
    assert result.returncode != 0, result.stdout
    assert field in result.stderr and words in result.stderr, result.stderr


def test_mig_resource_names_are_accepted(videojobs) -> None:
    videojobs.apply("mig", spec(resources={"gpuResourceName": "nvidia.com/mig-1g.10gb", "gpusPerPod": 1}))
    assert videojobs.get("mig")["spec"]["resources"]["gpuResourceName"] == "nvidia.com/mig-1g.10gb"


def test_spec_is_immutable_except_suspend(videojobs) -> None:
    videojobs.apply("fixed", spec())
    changed = videojobs.apply("fixed", spec(input={"claimName": "media", "path": "in/other.mp4"}), check=False)
    assert changed.returncode != 0 and "spec.input" in changed.stderr and "immutable" in changed.stderr
    changed = videojobs.apply("fixed", spec(encode={"quality": 30}), check=False)
    assert changed.returncode != 0 and "spec.encode" in changed.stderr
    videojobs.apply("fixed", spec(suspend=True, ttlSecondsAfterFinished=60))
    assert videojobs.get("fixed")["spec"]["suspend"] is True
