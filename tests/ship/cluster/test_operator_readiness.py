"""The operator's readiness endpoint (operator/readiness.py) in a process of its own, as the operator serves it:
200 while the harness's real API server serves the VideoJob API to its credentials; 503, saying why, when the
API server cannot be reached, and when the CRD is not served. The chart's probe asks exactly this endpoint
(tests/ship/test_chart.py), and `helm test` asks it through its Service on the node (test_helm_on_node.py)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster.fixtures import KubeCluster
from support.prometheus import free_port

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
SERVER = """
import sys, time, kubernetes
from videojob.operator import readiness
kubernetes.config.load_kube_config(config_file=sys.argv[1])
readiness.serve(int(sys.argv[2]), readiness.Readiness(readiness.api_server_check, cache_seconds=0), "127.0.0.1")
time.sleep(300)
"""


def readyz(kubeconfig: Path, tmp_path: Path) -> tuple[int, str]:
    port = free_port()
    log = tmp_path / f"readyz-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(kubeconfig), str(port)], stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=15) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(10)


def test_ready_only_while_the_api_server_serves_the_videojob_api(kube: KubeCluster, tmp_path: Path) -> None:
    crd = REPO / "crds" / "videojob.yaml"
    kube.kubectl("apply", "--server-side", "-f", str(crd))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")
    code, body = readyz(kube.kubeconfig, tmp_path)
    assert (code, body.strip()) == (200, "ok: the API server answers")

    # Nothing listens where the kubeconfig points: not ready, and why.
    config = yaml.safe_load(kube.kubeconfig.read_text())
    for c in config["clusters"]:
        c["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    code, body = readyz(dead, tmp_path)
    assert code == 503 and body.startswith("the API server cannot be used:") and "127.0.0.1" in body, body

    # Credentials the API server refuses.
    for u in config["users"]:
        u["user"] = {"token": "not-a-token"}
    config["clusters"] = yaml.safe_load(kube.kubeconfig.read_text())["clusters"]
    refused = tmp_path / "refused.kubeconfig"
    refused.write_text(yaml.safe_dump(config))
    code, body = readyz(refused, tmp_path)
    assert code == 503 and "401" in body, body
