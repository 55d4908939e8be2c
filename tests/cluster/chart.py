"""`helm install` of charts/videojob-operator with the images `make images` built (the test node imports them)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .fixtures import OPERATOR_IMAGE, REDIS_IMAGE, WORKER_SLIM_IMAGE, KubeCluster

CHART = Path(__file__).resolve().parents[2] / "charts" / "videojob-operator"


def helm(kube: KubeCluster, *args: str, timeout: float = 300) -> str:
    cmd = [str(kube.helm), f"--kubeconfig={kube.kubeconfig}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"helm {' '.join(args)}: {out.stderr[-3000:]}"
    return out.stdout


def install_chart(kube: KubeCluster, namespace: str, release: str, **values: Any) -> None:
    """The operator (Deployment) and the chart's Redis, watching `namespace` only, and waited for."""
    repo, _, tag = OPERATOR_IMAGE.rpartition(":")
    merged = {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"},
        "worker": {"image": WORKER_SLIM_IMAGE},
        "redis": {"enabled": True, "image": REDIS_IMAGE},
        "clusterWide": False,
        "watchNamespaces": [namespace],
        # the test node has 2 CPUs for everything: ask for what the operator uses
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        **values,
    }
    path = kube.root / f"values-{namespace}-{release}.yaml"
    path.write_text(yaml.safe_dump(merged))
    helm(kube, "install", release, str(CHART), "-n", namespace, "-f", str(path), "--wait", "--timeout=240s")
