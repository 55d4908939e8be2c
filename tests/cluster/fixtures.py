"""pytest fixtures: `kube`, a real control plane with the pod runner, and `namespace`, a fresh namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from .controlplane import ControlPlane, write_kubeconfig
from .podrunner import PodRunner


@dataclass
class KubeCluster:
    plane: ControlPlane
    runner: PodRunner
    root: Path
    start_seconds: float = 0.0  # from the first process to schedulable nodes

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    @property
    def server(self) -> str:
        return self.plane.server

    @property
    def helm(self) -> Path:
        return Path(os.environ.get("VIDEOJOB_HELM", str(self.plane.assets / "helm")))

    def api_client(self, kubeconfig: Path | None = None) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def kubectl(
        self, *args: str, check: bool = True, kubeconfig: Path | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.plane.assets / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def volume_dir(self, namespace: str, claim: str) -> Path:
        """The local directory that stands for the claim's volume (created by create_claim)."""
        path = self.root / "volumes" / namespace / claim
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_claim(self, namespace: str, claim: str, size: str = "1Gi") -> Path:
        """A PersistentVolumeClaim bound (by the real PV controller) to a PersistentVolume whose hostPath is the
        local directory the pod runner mounts for it. Returns that directory."""
        core = client.CoreV1Api(self.api_client())
        local = self.volume_dir(namespace, claim)
        pv_name = f"pv-{namespace}-{claim}"[:63]
        core.create_persistent_volume(
            client.V1PersistentVolume(
                metadata=client.V1ObjectMeta(name=pv_name, labels={"videojob.dev/test": namespace}),
                spec=client.V1PersistentVolumeSpec(
                    capacity={"storage": size},
                    access_modes=["ReadWriteMany"],
                    storage_class_name="",
                    persistent_volume_reclaim_policy="Retain",
                    host_path=client.V1HostPathVolumeSource(path=str(local)),
                    claim_ref=client.V1ObjectReference(namespace=namespace, name=claim),
                ),
            )
        )
        core.create_namespaced_persistent_volume_claim(
            namespace,
            client.V1PersistentVolumeClaim(
                metadata=client.V1ObjectMeta(name=claim),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteMany"],
                    storage_class_name="",
                    volume_name=pv_name,
                    resources=client.V1VolumeResourceRequirements(requests={"storage": size}),
                ),
            ),
        )
        self.wait_for(
            f"claim {claim} to bind",
            lambda: core.read_namespaced_persistent_volume_claim(claim, namespace).status.phase == "Bound",
            timeout=60,
            interval=0.2,
        )
        return local

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig holding a bound token of the ServiceAccount (TokenRequest API), for least-privilege runs."""
        core = client.CoreV1Api(self.api_client())
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=3600
            )
        )
        token = core.create_namespaced_service_account_token(name, namespace, request).status.token
        path = self.root / f"sa-{namespace}-{name}.kubeconfig"
        return write_kubeconfig(path, self.server, self.plane.ca, token, f"{namespace}-{name}")

    def wait_for(self, what: str, predicate: Any, timeout: float = 120.0, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeCluster]:
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="videojob-kube-"))
    try:
        plane = ControlPlane(root / "plane")
    except RuntimeError as exc:  # binaries missing: one line saying how to build them, no traceback
        missing = str(exc)
    else:
        missing = ""
    if missing:
        pytest.fail(missing, pytrace=False)
    plane.start()
    runner: PodRunner | None = None
    try:
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        core = client.CoreV1Api(api)
        # the namespace and service-account controllers are up when `default` has its ServiceAccount
        deadline = time.monotonic() + 60
        while True:
            try:
                core.read_namespaced_service_account("default", "default")
                break
            except client.ApiException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        runner = PodRunner(api)
        runner.start()
        cluster = KubeCluster(plane, runner, root)
        # Admission taints every new node not-ready until the node lifecycle controller sees it Ready; pods made
        # before that wait for the scheduler's backoff, so the first test would be slow for no reason of its own.
        cluster.wait_for(
            "nodes without the not-ready taint", lambda: _schedulable(core, runner), timeout=60, interval=0.2
        )
        cluster.start_seconds = time.monotonic() - t0
        yield cluster
    finally:
        if runner is not None:
            runner.stop()
        plane.stop()
        # logs, etcd data and claim directories; VIDEOJOB_KEEP_CLUSTER=1 keeps them to debug a failure
        if os.environ.get("VIDEOJOB_KEEP_CLUSTER") != "1":
            shutil.rmtree(root, ignore_errors=True)
            if runner is not None:
                shutil.rmtree(runner.scratch, ignore_errors=True)


@pytest.fixture
def namespace(kube: KubeCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube.api_client())
    # Pods in test namespaces must pass the restricted Pod Security profile, as on a careful cluster.
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    kube.wait_for(
        f"ServiceAccount default in {name}",
        lambda: _exists(lambda: core.read_namespaced_service_account("default", name)),
        timeout=60,
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _schedulable(core: client.CoreV1Api, runner: PodRunner) -> bool:
    for node in runner.nodes:
        taints = core.read_node(node.name).spec.taints or []
        if any(t.key.startswith("node.kubernetes.io/") for t in taints):
            return False
    return True


def _exists(read: Any) -> bool:
    try:
        read()
        return True
    except client.ApiException:
        return False
