"""deploy/k3s: manifests valid for Kubernetes 1.35 (kubernetes-validate --strict, offline), VideoJobs valid for
our CRD's schema and the operator's spec model, device plugin config well-formed, scripts parse, README complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from videojob.operator.spec import VideoJobSpec

REPO = Path(__file__).resolve().parents[2]
K3S = REPO / "deploy" / "k3s"
MANIFESTS = sorted((K3S / "manifests").glob("*.yaml"))
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def crd_schema() -> dict[str, Any]:
    (crd,) = docs(REPO / "crds" / "videojob.yaml")
    (version,) = [v for v in crd["spec"]["versions"] if v["served"]]
    return version["schema"]["openAPIV3Schema"]


def test_builtin_kinds_validate_strictly(tmp_path: Path) -> None:
    builtin = [d for p in MANIFESTS for d in docs(p) if d["kind"] != "VideoJob"]
    kinds = {d["kind"] for d in builtin}
    assert {"RuntimeClass", "DaemonSet", "ConfigMap", "PersistentVolumeClaim", "Pod", "Namespace"} <= kinds
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    out = subprocess.run(
        [str(VALIDATE), "--strict", "-k", "1.35.0", str(path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" passed for resource ") == len(builtin), out.stdout


def test_sample_videojobs_match_the_crd_schema_and_the_spec_model() -> None:
    jobs = [d for p in MANIFESTS for d in docs(p) if d["kind"] == "VideoJob"]
    assert len(jobs) >= 2
    schema = crd_schema()
    for job in jobs:
        assert job["apiVersion"] == "videojob.dev/v1alpha1"
        # OpenAPI v3 structural schema ~ JSON Schema draft 4 (boolean exclusiveMinimum); CEL rules: cluster test.
        jsonschema.Draft4Validator(schema).validate(job)
        spec = VideoJobSpec.model_validate(job["spec"])
        assert spec.input.claim_name == "media"
        assert spec.runtime_class_name == "nvidia"
    # The validation is real: a misspelt field is refused by both.
    bad = {**jobs[0], "spec": {**jobs[0]["spec"], "maxParalelPods": 4}}
    with pytest.raises(Exception, match="maxParalelPods"):
        VideoJobSpec.model_validate(bad["spec"])
    # (The CRD schema prunes unknown fields rather than refusing them; it refuses wrong types and ranges.)
    wrong = {**jobs[0], "spec": {**jobs[0]["spec"], "maxParallelPods": 0}}
    with pytest.raises(jsonschema.ValidationError, match="less than the minimum"):
        jsonschema.Draft4Validator(schema).validate(wrong)


def test_device_plugin_config() -> None:
    (cm,) = [d for d in docs(K3S / "manifests" / "nvidia-device-plugin.yaml") if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["version"] == "v1"
    assert config["flags"]["migStrategy"] in ("none", "single", "mixed")
    (res,) = config["sharing"]["timeSlicing"]["resources"]
    assert res["name"] == "nvidia.com/gpu" and isinstance(res["replicas"], int) and res["replicas"] >= 2
    (ds,) = [d for d in docs(K3S / "manifests" / "nvidia-device-plugin.yaml") if d["kind"] == "DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    (c,) = pod["containers"]
    assert not c["image"].endswith(":latest") and ":v" in c["image"]
    mount = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "config")
    assert c["args"] == [f"--config-file={mount}/config.yaml"]


def test_scripts_parse_and_readme_covers_every_file() -> None:
    readme = (K3S / "README.md").read_text()
    for script in sorted(K3S.glob("*.sh")):
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert script.name in readme
        for ref in {
            line.split('"$HERE/')[1].split('"')[0] for line in script.read_text().splitlines() if '"$HERE/' in line
        }:
            assert (K3S / ref).exists(), f"{script.name} refers to missing {ref}"
    for manifest in MANIFESTS:
        assert manifest.name in readme, f"README.md does not mention {manifest.name}"
    usage = subprocess.run(["bash", str(K3S / "install.sh")], capture_output=True, text=True)
    assert usage.returncode == 2 and "install.sh server" in usage.stderr
