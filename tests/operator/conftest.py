"""Cluster fixtures for the operator tests: the real control plane (tests/cluster), this project's CRD and RBAC,
and the operator as a process of its own, running under the least-privilege ServiceAccount (never as admin)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster import procs
from cluster.fixtures import WORKER_SLIM_IMAGE, KubeCluster
from cluster.noderedis import node_redis, secured_node_redis

REPO = Path(__file__).resolve().parents[2]
KOPF = Path(sys.executable).with_name("kopf")
SA_NAMESPACE, SA_NAME = "videojob-system", "videojob-operator"


@pytest.fixture(scope="session")
def crd(kube: KubeCluster) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")


@pytest.fixture(scope="session")
def operator_kubeconfig(kube: KubeCluster, crd: None) -> Path:
    """A kubeconfig with a token of the ServiceAccount that deploy/manifests/rbac.yaml binds, nothing more."""
    kube.kubectl("create", "namespace", SA_NAMESPACE, check=False)
    kube.kubectl("apply", "-f", str(REPO / "deploy" / "manifests" / "rbac.yaml"))
    return kube.service_account_kubeconfig(SA_NAMESPACE, SA_NAME)


@dataclass
class Operator:
    """`kopf run -m videojob.operator.main` for one namespace; started and stopped by pid.

    It runs as a process on the test node (its network namespace, outside any pod), as an operator run out of
    cluster would: it reaches the API server and the Redis the pods use at the same addresses they do."""

    kube: KubeCluster
    namespace: str
    kubeconfig: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.health_port = self.health_port or procs.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "VIDEOJOB_"))}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            PYTHONSAFEPATH="1",
            VIDEOJOB_RESYNC_SECONDS="1",
            VIDEOJOB_WORKER_IMAGE=WORKER_SLIM_IMAGE,
            VIDEOJOB_METRICS_PORT="0",
        )
        env.update(self.env)  # a test's own settings win
        self.starts += 1
        log = self.log.with_name(f"{self.log.stem}-{self.starts}.log")
        if self.starts == 1:
            self.kube.node.expose_node_port(self.health_port)
        self.proc = procs.start(
            self.kube.node.enter_net(
                [
                    str(KOPF),
                    "run",
                    "-m",
                    "videojob.operator.main",
                    "--namespace",
                    self.namespace,
                    "--standalone",
                    f"--liveness=http://127.0.0.1:{self.health_port}/healthz",
                ]
            ),
            log,
            env,
        )
        self.kube.wait_for("the operator's liveness endpoint", self.healthy, timeout=60)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as r:
                return r.status == 200 and "now" in json.loads(r.read())
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a node failure or OOM would: no graceful shutdown."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log.parent.glob(f"{self.log.stem}-*")))


@pytest.fixture
def operator(
    kube: KubeCluster, namespace: str, operator_kubeconfig: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Operator]:
    op = Operator(kube, namespace, operator_kubeconfig, tmp_path / "operator")
    op.start()
    yield op
    # While the operator still runs (it owns kopf's finalizer), remove what the test left.
    if op.proc is not None and op.proc.poll() is None:
        kube.kubectl("delete", "videojobs", "--all", "-n", namespace, "--wait=true", "--timeout=60s", check=False)
    op.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"---- operator log ----\n{op.logs()[-6000:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@dataclass
class VideoJobs:
    """kubectl-level helpers for VideoJobs in one namespace, with a bound claim `media` for their files."""

    kube: KubeCluster
    namespace: str
    volume: Path
    claim: str = "media"

    def clip(self, path: str = "in/clip.mp4", frames: int = 72, width: int = 160, height: int = 120) -> Path:
        """A tiny clip with audio on the claim (3 s at 24 fps by default)."""
        from support.media import make_clip

        target = self.volume / path
        target.parent.mkdir(parents=True, exist_ok=True)
        return make_clip(target, width, height, frames=frames, fps=24)

    def spec(
        self,
        path: str = "in/clip.mp4",
        out: str = "out/clip.mp4",
        segments: int = 3,
        mode: str = "pod-per-segment",
        **extra: Any,
    ) -> dict[str, Any]:
        """`mode`: the tests written for one pod per segment (retries, kills, Kueue per index) say so, whatever
        auto would pick; the pool tests ask for pool or auto."""
        return {
            "input": {"claimName": self.claim, "path": path},
            "output": {"path": out},
            "detector": {
                "kind": "static",
                "padding": 0,
                "regions": [{"left": 0.25, "top": 0.25, "width": 0.25, "height": 0.25}],
            },
            "operation": {"kind": "blur"},
            "segmentation": {"segments": segments, "minFramesPerSegment": 4, "mode": mode},
            "encode": {"encoder": "software"},
            "resources": {"cpu": "500m", "memory": "1Gi"},
            **extra,
        }

    def workdir(self, name: str) -> Path:
        """WORKDIR on this machine: status.workdir is the path inside the pods."""
        inside = self.status(name)["workdir"]
        return self.volume / inside.removeprefix("/videojob/data/")

    def job(self, name: str) -> dict[str, Any] | None:
        out = self.kube.kubectl("get", "job", f"{name}-segments", "-n", self.namespace, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    def runs(self, name: str, stage: str = "segments") -> list[Any]:
        """The pod runner's records of this VideoJob's pods of one stage, oldest first."""
        return [
            r
            for r in self.kube.control.records
            if r.namespace == self.namespace and r.name.startswith(f"{name}-{stage}")
        ]

    def apply(self, name: str, spec: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        doc = {
            "apiVersion": "videojob.dev/v1alpha1",
            "kind": "VideoJob",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        return self.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=check)

    def get(self, name: str) -> dict[str, Any]:
        return json.loads(self.kube.kubectl("get", "videojob", name, "-n", self.namespace, "-o", "json").stdout)

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def wait_phase(self, name: str, *phases: str, timeout: float = 120) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            st = self.status(name)
            if st.get("phase") in phases:
                return st
            if st.get("phase") == "Failed" and "Failed" not in phases:
                raise AssertionError(f"{name} failed: {st.get('message')}")
            return None

        return self.kube.wait_for(f"{name} to reach {phases}", reached, timeout=timeout)

    def events(self, name: str) -> list[dict[str, Any]]:
        out = self.kube.kubectl(
            "get",
            "events",
            "-n",
            self.namespace,
            "-o",
            "json",
            f"--field-selector=involvedObject.name={name},involvedObject.kind=VideoJob",
        )
        return json.loads(out.stdout)["items"]

    def children(self, name: str) -> list[str]:
        out = self.kube.kubectl(
            "get", "pods,jobs", "-n", self.namespace, "-l", f"videojob.dev/job={name}", "-o", "name"
        )
        return out.stdout.split()


@pytest.fixture
def videojobs(kube: KubeCluster, namespace: str, crd: None) -> VideoJobs:
    return VideoJobs(kube, namespace, kube.create_claim(namespace, "media"))


# The progress tests' Redis: on the test node, where pods and the operator reach it.
redis_server = node_redis
secured_redis = secured_node_redis
