"""D8 on the real API server: the chart's default RBAC is namespaced, so the operator's ServiceAccount cannot
create pods or Secrets in kube-system (or any namespace but the release's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cluster.fixtures import KubeCluster

pytestmark = pytest.mark.cluster

CHART = Path(__file__).resolve().parents[3] / "charts" / "videojob-operator"


def test_default_chart_cannot_touch_kube_system(kube: KubeCluster, namespace: str, tmp_path: Path) -> None:
    release = f"d{namespace[2:]}"
    out = subprocess.run(
        [
            str(kube.helm),
            "template",
            release,
            str(CHART),
            "-n",
            namespace,
            "--set",
            "replicaCount=0",
            "--set",
            "tests.enabled=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    objs = [d for d in yaml.safe_load_all(out) if d]
    assert not [o for o in objs if o["kind"].startswith("Cluster")]
    path = tmp_path / "chart.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    kube.kubectl("apply", "--server-side", "-f", str(path))
    sa = f"system:serviceaccount:{namespace}:{release}-videojob-operator"

    def can_i(ns: str, verb: str, resource: str) -> bool:
        got = kube.kubectl("auth", "can-i", verb, resource, f"--as={sa}", "-n", ns, check=False)
        return got.stdout.strip() == "yes"

    assert can_i(namespace, "create", "jobs.batch") and can_i(namespace, "create", "secrets")
    for ns in ("kube-system", "default"):
        for resource in ("pods", "secrets", "jobs.batch"):
            assert not can_i(ns, "create", resource), (ns, resource)
