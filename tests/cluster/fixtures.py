"""pytest fixtures: `kube`, a real control plane with one real node (containerd, runc, CNI, kubelet, kube-proxy,
CoreDNS; see node.py), and `namespace`, a fresh namespace."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
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
from .node import API_IP, API_SERVICE_IP, COREDNS_IMAGE, DNS_SERVICE_IP, Node
from .pki import make_pki
from .podcontrol import PodControl, PodWatch

CACHE = Path(
    os.environ.get("VIDEOJOB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "videojob"
)
VERSION = importlib.metadata.version("videojob")
# Built by `make images` (scripts/build-images.sh) and imported into the node's containerd.
WORKER_SLIM_IMAGE = f"localhost/videojob-worker:{VERSION}-slim"
WORKER_IMAGE = f"localhost/videojob-worker:{VERSION}"
OPERATOR_IMAGE = f"localhost/videojob-operator:{VERSION}"
REDIS_IMAGE = "localhost/videojob-redis:test"
# Archives in $CACHE/images that every session imports (the full worker only where a test asks for it).
NODE_IMAGES = ("coredns", "videojob-operator", "videojob-worker-slim", "videojob-redis")
# The uid and gid the product's pods run as (worker and operator images, Pod securityContext).
POD_UID = 10001


@dataclass
class KubeCluster:
    plane: ControlPlane
    node: Node
    root: Path
    control: PodControl
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
        """The directory behind the claim's volume (a hostPath PersistentVolume, created by create_claim).

        Owned by the pods' uid and group, as an administrator provisions a shared (NFS-like) volume: kubelet
        applies fsGroup to volumes that support ownership management, and hostPath is not one of them."""
        path = self.root / "volumes" / namespace / claim
        path.mkdir(parents=True, exist_ok=True)
        for p in (path, *path.parents):
            if p == self.root:
                break
            p.chmod(0o755)
        os.chown(path, POD_UID, POD_UID)
        path.chmod(0o2775)
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
    try:
        cluster = start_cluster()
    except MissingBinaries as exc:  # one line saying how to build them, no traceback
        pytest.fail(str(exc), pytrace=False)
    with cluster as running:
        yield running


class MissingBinaries(RuntimeError):
    pass


@contextlib.contextmanager
def _node_lock() -> Iterator[None]:
    """One node per machine: its containerd store and cgroup names are shared, so a second session waits here."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "node.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another test session's node to stop ({CACHE / 'node.lock'})", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's close, also when the process is killed


@contextlib.contextmanager
def _running(root: Path, plane: ControlPlane) -> Iterator[KubeCluster]:
    with _node_lock():
        yield from _running_locked(root, plane)


def _running_locked(root: Path, plane: ControlPlane) -> Iterator[KubeCluster]:
    t0 = time.monotonic()
    node = Node(root / "node", plane.assets, CACHE)
    watcher: PodWatch | None = None
    try:
        node.start_sandbox()
        plane.pki = make_pki(
            root / "pki",
            ips=["127.0.0.1", API_IP, API_SERVICE_IP],
            dns=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        )
        plane.advertise_address = API_IP
        plane.egress_socket = node.egress_socket
        plane.node_name = node.name
        plane.start()
        node.start(plane.api_port, plane.pki.ca, plane.pki.ca, plane.tokens)
        node.import_images([CACHE / "images" / f"{name}.tar" for name in NODE_IMAGES])
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        watcher = PodWatch(api)
        watcher.start()
        cluster = KubeCluster(plane, node, root, PodControl(api, watcher, node.ctr))
        _join(cluster)
        cluster.start_seconds = time.monotonic() - t0
        yield cluster
    finally:
        if watcher is not None:
            watcher.stop()
        node.stop()
        plane.stop()
        changed = node.changed_sysctls()
        # logs, etcd data and claim directories; VIDEOJOB_KEEP_CLUSTER=1 keeps them to debug a failure
        if os.environ.get("VIDEOJOB_KEEP_CLUSTER") != "1":
            shutil.rmtree(root, ignore_errors=True)
        assert not changed, f"sysctls not restored after the node stopped (before, after): {changed}"


def start_cluster() -> contextlib.AbstractContextManager[KubeCluster]:
    """The control plane and the node, as a context manager (the `kube` fixture; bench/bench_node.py)."""
    # short: Unix socket paths under it must stay below 108 bytes
    root = Path(tempfile.mkdtemp(prefix="vjk-"))
    root.chmod(0o755)  # the pods' uid walks through it to the claims' directories
    try:
        plane = ControlPlane(root / "plane")
    except RuntimeError as exc:  # binaries missing
        shutil.rmtree(root, ignore_errors=True)
        raise MissingBinaries(str(exc)) from None
    return _running(root, plane)


def _join(cluster: KubeCluster) -> None:
    """The node registered and Ready, its GPUs advertised, cluster DNS answering."""
    core = client.CoreV1Api(cluster.api_client())
    node = cluster.node

    def ready() -> bool:
        for proc in ("kubelet", "containerd", "kube-proxy"):
            if node.processes[proc].poll() is not None:
                raise AssertionError(f"{proc} exited:\n{node.log_tail(proc)}")
        try:
            obj = core.read_node(node.name)
        except client.ApiException:
            return False
        conds = {c.type: c.status for c in obj.status.conditions or []}
        taints = [t for t in obj.spec.taints or [] if t.key.startswith("node.kubernetes.io/")]
        return conds.get("Ready") == "True" and not taints

    cluster.wait_for(f"node {node.name} Ready", ready, timeout=120, interval=0.3)
    core.patch_node_status(node.name, node.node_patch_gpus())
    manifest = (Path(__file__).with_name("coredns.yaml")).read_text()
    manifest = manifest.replace("IMAGE", COREDNS_IMAGE).replace("CLUSTER_IP", DNS_SERVICE_IP)
    cluster.kubectl("apply", "-f", "-", input=manifest)
    cluster.kubectl("rollout", "status", "-n", "kube-system", "deployment/coredns", "--timeout=120s")


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


def _exists(read: Any) -> bool:
    try:
        read()
        return True
    except client.ApiException:
        return False
