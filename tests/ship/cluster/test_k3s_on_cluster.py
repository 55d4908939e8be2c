"""deploy/k3s manifests against the real API server (server-side dry run: admission, CEL rules, restricted Pod
Security of the copy pod), so nothing is left behind in the shared cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cluster.fixtures import KubeCluster

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "deploy" / "k3s" / "manifests"


def test_manifests_accepted_by_the_api_server(kube: KubeCluster, namespace: str) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")
    for path in sorted(MANIFESTS.glob("*.yaml")):
        objs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        own = {d.get("metadata", {}).get("namespace") for d in objs} - {None}
        target = ["-n", own.pop()] if own else ["-n", namespace]
        out = kube.kubectl("apply", "--dry-run=server", *target, "-f", str(path), check=False)
        assert out.returncode == 0, f"{path.name}: {out.stderr}"
        n = len(objs)
        assert out.stdout.count("(server dry run)") == n, out.stdout
        assert "Warning" not in out.stderr, f"{path.name}: {out.stderr}"


def test_cel_rules_refuse_a_broken_sample(kube: KubeCluster, namespace: str, tmp_path: Path) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    job = yaml.safe_load((MANIFESTS / "videojob-street.yaml").read_text())
    job["spec"]["detector"]["regions"] = [{"left": 0.9, "top": 0.0, "width": 0.5, "height": 0.1}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(job))
    out = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    assert out.returncode != 0 and "region extends past the frame" in out.stderr
