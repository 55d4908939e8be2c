"""The CRD is generated from the models, committed, structural, and its job sections are the pipeline's JobConfig."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from videojob.common import jobmodel
from videojob.operator import crdgen
from videojob.operator.spec import VideoJobSpec

REPO = Path(__file__).resolve().parents[2]


def crd() -> dict[str, Any]:
    return yaml.safe_load((REPO / "crds" / "videojob.yaml").read_text())


def schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_files_match_the_models() -> None:
    assert crdgen.main(["--check"]) == 0, "run: python -m videojob.operator.crdgen --write"
    chart = REPO / "charts" / "videojob-operator" / "crds" / "videojob.yaml"
    assert chart.read_bytes() == (REPO / "crds" / "videojob.yaml").read_bytes()


def test_check_notices_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "videojob.yaml"
    stale.write_text(crdgen.render().replace("vj", "vjx"))
    monkeypatch.setattr(crdgen, "TARGETS", [stale])
    monkeypatch.setattr(crdgen, "REPO", tmp_path)
    assert crdgen.main(["--check"]) == 1
    assert crdgen.main(["--write"]) == 0
    assert crdgen.main(["--check"]) == 0


def test_crd_is_a_valid_object() -> None:
    kubernetes_validate.validate(crd(), "1.35.0", strict=True)


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_schema_is_structural() -> None:
    for path, node in _walk(schema()):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        if "properties" in node:
            assert node.get("type") == "object" and "additionalProperties" not in node, path
        if node.get("default", 0) is None:
            pytest.fail(f"null default at {path}")


def test_names_columns_and_subresource() -> None:
    spec = crd()["spec"]
    assert spec["group"] == "videojob.dev"
    assert spec["names"]["shortNames"] == ["vj"] and "videojob" in spec["names"]["categories"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Done"] == ".status.segments.succeeded" and columns["Segments"] == ".status.segments.total"
    assert columns["Progress"] == ".status.progress" and columns["Age"] == ".metadata.creationTimestamp"


def test_enums_defaults_minimums_and_rules() -> None:
    props = schema()["properties"]["spec"]["properties"]
    assert props["encode"]["properties"]["encoder"]["enum"] == ["auto", "nvenc", "software"]
    assert props["resources"]["properties"]["gpuResourceName"]["default"] == "nvidia.com/gpu"
    assert props["maxParallelPods"]["minimum"] == 1
    assert props["operation"]["properties"]["blurStrength"]["exclusiveMinimum"] is True
    assert props["detector"]["default"] == {"kind": "none"}
    rules = [r["rule"] for r in props["input"]["properties"]["path"]["x-kubernetes-validations"]]
    assert "!self.startsWith('/')" in rules
    immutable = [r for r in props["input"]["x-kubernetes-validations"] if r["rule"] == "self == oldSelf"]
    assert len(immutable) == 1 and "immutable" in immutable[0]["message"]
    # A file on a claim or an object, never both, never neither (the rule beside it).
    (either,) = [r for r in props["input"]["x-kubernetes-validations"] if "has(self.url)" in r["rule"]]
    assert "claimName and path" in either["message"] and "url" in either["message"]
    status = schema()["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Detecting", "Processing", "Finalizing", "Succeeded", "Failed"]
    assert set(status["segments"]["properties"]) == {"total", "succeeded", "failed", "active", "retries"}


def test_crd_pipeline_and_worker_env_come_from_the_one_job_model() -> None:
    """No mirror: the VideoJob spec is a JobConfig, the pipeline's JobConfig is the same class, and the CRD's job
    sections are its fields in camelCase with its defaults."""
    from videojob.pipeline import config as pipeline_config
    from videojob.pipeline.detect import config as detect_config

    assert issubclass(VideoJobSpec, jobmodel.JobConfig)
    assert pipeline_config.JobConfig is jobmodel.JobConfig
    assert detect_config.DetectorConfig is jobmodel.DetectorConfig
    props = schema()["properties"]["spec"]["properties"]
    for section in jobmodel.JOB_SECTIONS:
        model = jobmodel.JobConfig.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        crd_fields = props[section]["properties"]
        assert list(crd_fields) == [to_camel(f) for f in model.model_fields]
        for name, info in model.model_fields.items():
            default = info.get_default(call_default_factory=True)
            if isinstance(default, tuple):
                default = list(default)
            if default is not None:
                assert crd_fields[to_camel(name)].get("default") == default, f"{section}.{name}"
    region = props["detector"]["properties"]["regions"]["items"]["properties"]
    assert list(region) == ["left", "top", "width", "height"], "kubectl's YAML 1.1 reads a bare y: as true"


def test_worker_env_is_the_job_model_by_field_name() -> None:
    """What the CRD takes in camelCase reaches VIDEOJOB_CONFIG in snake_case, and the pipeline reads it back."""
    from videojob.operator.builders import build_segment_job, context_from_body

    spec = {
        "input": {"claimName": "m", "path": "a.mp4"},
        "output": {"path": "b.mp4"},
        "detector": {
            "kind": "static",
            "sampleEvery": 3,
            "regions": [{"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}],
        },
        "operation": {"kind": "fill", "fillColor": [1, 2, 3]},
        "segmentation": {"minFramesPerSegment": 5},
        "encode": {"encoder": "software", "quality": 30},
    }
    ctx = context_from_body({"metadata": {"name": "j", "namespace": "n", "uid": "u"}, "spec": spec}, default_image="i")
    job = build_segment_job(ctx, 2)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    sent = json.loads(env["VIDEOJOB_CONFIG"])
    assert sent["detector"]["sample_every"] == 3 and sent["detector"]["regions"] == [
        {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}
    ]
    assert sent["segmentation"]["min_frames_per_segment"] == 5
    config = jobmodel.JobConfig.model_validate(sent)
    assert config == jobmodel.JobConfig.model_validate(
        {k: spec[k] for k in ("detector", "operation", "segmentation", "encode")}
    )
    assert config.operation.fill_color == (1, 2, 3) and config.encode.quality == 30


def test_defaulted_spec_round_trips_into_pipeline_config() -> None:
    from videojob.pipeline.config import JobConfig

    spec = VideoJobSpec.model_validate({"input": {"claimName": "m", "path": "a.mp4"}, "output": {"path": "b.mp4"}})
    assert JobConfig.model_validate(spec.pipeline_config()) == JobConfig()


def test_names_the_children_cannot_be_made_from_are_refused_at_admission() -> None:
    """D1: metadata.name is checked by a CEL rule with a message, and every name it lets through gives valid
    children (tests/operator/test_builders.py checks the children of the longest and dotted names)."""
    rules = schema().get("x-kubernetes-validations", [])
    (rule,) = [r for r in rules if "self.metadata.name" in r["rule"]]
    assert "metadata.name" in rule["message"] and "253" in rule["message"]
    pattern = re.search(r"matches\('([^']+)'\)", rule["rule"])
    assert pattern and "size(self.metadata.name) <= 253" in rule["rule"]
    ok = re.compile(pattern.group(1))
    for good in ["clip", "cam.01.v2", "a" * 53, "e.f" * 83 + "e", "g" * 253]:
        assert ok.match(good), good
    for bad in ["Cam", "cam_01", "-cam", "cam.", "cam..v2", "a b"]:
        assert not ok.match(bad), bad
