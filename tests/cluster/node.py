"""A real Kubernetes node for the test cluster: containerd, runc, CNI, kubelet and kube-proxy, in namespaces of
their own.

The node is a process tree in new network, mount, PID and UTS namespaces (`unshare`), so that:
- its bridge, veth pairs, routes and iptables rules live in its own network namespace, never the host's;
- its mounts (overlay roots, projected volumes, pod network namespaces, a private /run) vanish with it;
- stopping its first process ends every process in it, containers and shims included.

What crosses the boundary: the node and its pods reach the API server through the address `API_IP` inside the
namespace, where socat forwards to a Unix socket and another socat, on the host, to the API server on loopback.
The API server reaches kubelet and pods through an HTTP CONNECT proxy on a Unix socket (egress.py), configured as
its `cluster` egress selector. Host changes that cannot be avoided are undone at stop: the sysctls kubelet
rewrites, the cgroup tree under `cgroupRoot`, and mount-point directories the node needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import procs
from .controlplane import write_kubeconfig

API_IP = "10.200.0.1"  # the API server, as the node and pods see it (on the node's loopback)
NODE_IP = "10.200.0.2"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
NODE_NAME = "vj-node-1"
PAUSE_IMAGE = "localhost/videojob-pause:test"
COREDNS_IMAGE = "localhost/videojob-coredns:test"

# kubelet sets these at start (setupKernelTunables); they are not namespaced, so they are put back at stop.
KUBELET_SYSCTLS = (
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
)
# Host paths the node's components write to whatever their configuration says (CNI's result cache in /var/lib/cni,
# kubelet's /var/log/containers links, runc and shim sockets in /run): each gets a private tmpfs in the node's mount
# namespace. They exist on every Debian host, so nothing is created on the host, even by a run that is killed.
PRIVATE_DIRS = ("/run", "/var/lib", "/var/log")

INIT = """
import os, signal
def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    signal.pause()
"""


def host_sysctls() -> dict[str, str]:
    values = {}
    for name in KUBELET_SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = (Path("/proc/sys") / name).read_text().strip()
    return values


@dataclass
class Node:
    """One node. `start(api_port, pki, tokens)` after the API server is up; `stop()` always."""

    root: Path
    assets: Path
    cache: Path
    gpus: int = 2
    name: str = NODE_NAME
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    init_pid: int = 0
    sysctls: dict[str, str] = field(default_factory=dict)
    cgroup_root: str = ""
    started_seconds: float = 0.0

    @property
    def egress_socket(self) -> Path:
        return self.root / "egress.sock"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start_sandbox(self) -> None:
        """The namespaces and their network; before the API server, which needs the egress socket path only."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sysctls = host_sysctls()
        self.processes["init"] = procs.start(
            [
                "unshare",
                "--net",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                # the namespace's first process, and so every process in it, dies with unshare, which dies
                # with the test run (procs.start)
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                sys.executable,
                "-c",
                INIT,
            ],
            self.logs / "init.log",
        )
        self.init_pid = self._child_of(self.processes["init"].pid)
        script = [
            "set -e",
            f"hostname {self.name}",
            *(f"mount -t tmpfs -o mode=0755 tmpfs {d}" for d in PRIVATE_DIRS),
            "ip link set lo up",
            f"ip addr add {API_IP}/32 dev lo",
            "ip link add eth0 type veth peer name eth0-peer",
            f"ip addr add {NODE_IP}/24 dev eth0",
            "ip link set eth0 up",
            "ip link set eth0-peer up",
            # The node's own processes reach Services as on a real node, where the default route covers them: the
            # API server's egress proxy dials a webhook's ClusterIP, which kube-proxy then sends to its endpoint.
            f"ip route add {SERVICE_CIDR} dev eth0",
            "sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1",
        ]
        self.exec(["sh", "-c", "\n".join(script)])
        self.processes["egress"] = self.spawn(
            "egress", [sys.executable, str(Path(__file__).with_name("egress.py")), str(self.egress_socket)]
        )
        _wait_path(self.egress_socket, "egress proxy socket", self.processes["egress"])

    def start(self, api_port: int, ca: Path, client_ca: Path, tokens: dict[str, str]) -> None:
        t0 = time.monotonic()
        self.expose_host_port(api_port)
        self._start_containerd()
        self.import_images([self.cache / "images" / "pause.tar"])
        self._write_cni()
        server = f"https://{API_IP}:{api_port}"
        self._start_kubelet(server, ca, client_ca, tokens["kubelet"])
        self._start_kube_proxy(server, ca, tokens["kube-proxy"])
        self.started_seconds = time.monotonic() - t0

    def expose_host_port(self, port: int) -> None:
        """The host's 127.0.0.1:port, reachable in the node's namespace on every address (API_IP for pods, and
        127.0.0.1 for processes that join only its network, so a kubeconfig for 127.0.0.1 works there too)."""
        sock = self.root / f"to-host-{port}.sock"
        host = procs.start(
            ["socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:127.0.0.1:{port}"], self.logs / f"to-host-{port}.log"
        )
        self.processes[f"to-host-{port}"] = host
        _wait_path(sock, f"bridge to host port {port}", host)
        self.processes[f"to-host-{port}-node"] = self.spawn(
            f"to-host-{port}-node", ["socat", f"TCP-LISTEN:{port},fork,reuseaddr", f"UNIX-CONNECT:{sock}"]
        )
        self._wait_listening(port)

    def expose_node_port(self, port: int) -> None:
        """The node namespace's 127.0.0.1:port, reachable on the host's 127.0.0.1:port."""
        sock = self.root / f"to-node-{port}.sock"
        inside = self.spawn(f"to-node-{port}", ["socat", f"UNIX-LISTEN:{sock},fork,mode=600", f"TCP:127.0.0.1:{port}"])
        self.processes[f"to-node-{port}"] = inside
        _wait_path(sock, f"bridge to node port {port}", inside)
        self.processes[f"to-node-{port}-host"] = procs.start(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{sock}"],
            self.logs / f"to-node-{port}-host.log",
        )

    def enter_net(self, args: list[str]) -> list[str]:
        """A command that runs in the node's network namespace only: a process "on the node", outside any pod
        (as an operator run out of cluster would be on a cluster's network), seeing the host's files."""
        return ["nsenter", f"--target={self.init_pid}", "--net", "--", *args]

    def _wait_listening(self, port: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()"
        while subprocess.run(self.enter_net([sys.executable, "-c", probe]), capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} in the node after {timeout:.0f}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Everything, by pid: kubelet and kube-proxy first, then the namespace's first process (the kernel ends
        every process in its PID namespace with it), then the host-side bridge; then what they changed."""
        for name in ("kubelet", "kube-proxy"):
            if name in self.processes:
                procs.stop(self.processes.pop(name), grace=5.0)
        init = self.processes.pop("init", None)
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        if init is not None:
            procs.stop(init, grace=5.0)
        for proc in self.processes.values():
            procs.stop(proc, grace=2.0)
        self.processes.clear()
        self._restore_sysctls()
        self._remove_cgroups()

    # ---- running things inside -----------------------------------------------------------------------------
    def enter(self, args: list[str]) -> list[str]:
        return ["nsenter", f"--target={self.init_pid}", "--net", "--mount", "--uts", "--pid", "--", *args]

    def exec(self, args: list[str], timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.enter(args), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed in the node ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        return procs.start(self.enter(args), self.logs / f"{name}.log")

    def ctr(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.exec(
            ["ctr", f"--address={self.containerd_socket}", "--namespace=k8s.io", *args], timeout=timeout, check=check
        )

    # ---- containerd ----------------------------------------------------------------------------------------
    def _start_containerd(self) -> None:
        state = self.root / "containerd-state"
        # Images persist between runs (importing the worker image takes minutes); everything else is per run.
        store = self.cache / "node" / "containerd"
        store.mkdir(parents=True, exist_ok=True)
        cni = self.root / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        config = f"""
version = 2
root = "{store}"
state = "{state}"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root lacks CAP_SYS_RESOURCE here: lowering a container's oom_score_adj below ours would fail
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{state}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni / "net.d"}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{store}/opt"
"""
        path = self.root / "containerd.toml"
        path.write_text(config)
        self.processes["containerd"] = self.spawn("containerd", ["containerd", "--config", str(path)])
        _wait_path(self.containerd_socket, "containerd socket", self.processes["containerd"], timeout=60)
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd does not answer:\n{self.log_tail('containerd')}")
            time.sleep(0.2)
        # ctr answers before the CRI plugin has recovered its state (loading the images takes a while), and a
        # kubelet started then exits: "validate CRI v1 runtime API ... server is not initialized yet". The CRI
        # service logs this line just before it marks itself initialized.
        log = self.logs / "containerd.log"
        while "Start streaming server" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.processes["containerd"].poll() is not None:
                raise RuntimeError(f"containerd's CRI plugin did not start:\n{self.log_tail('containerd')}")
            time.sleep(0.1)
        time.sleep(0.2)
        self._forget_earlier_runs()

    def _forget_earlier_runs(self) -> None:
        """The store outlives each run for its images, but the containers and sandboxes an earlier run left (its
        processes died with it) would keep their snapshots, a copy of their image's root each, for ever."""
        for kind in ("tasks", "containers"):
            ids = self.ctr(kind, "ls", "-q", check=False).stdout.split()
            if ids and kind == "tasks":
                self.ctr("tasks", "rm", "-f", *ids, check=False)
            elif ids:
                self.ctr("containers", "rm", *ids, check=False)
        self._drop_untagged_images()

    def _drop_untagged_images(self) -> None:
        """The CRI plugin names every image also by its id (`sha256:…`); once a re-import moved the tag to a new
        version, that id name alone keeps the old one's content and snapshots (6 GB for the worker) alive."""
        rows = [line.split() for line in self.ctr("images", "ls", check=False).stdout.splitlines()[1:]]
        tagged = {row[2] for row in rows if len(row) > 2 and not row[0].startswith("sha256:")}
        stale = [row[0] for row in rows if len(row) > 2 and row[0].startswith("sha256:") and row[2] not in tagged]
        if stale:
            self.ctr("images", "rm", "--sync", *stale, check=False)

    def import_images(self, archives: list[Path]) -> None:
        """`ctr images import` of image archives, skipped when the same archive (size and mtime) was imported
        into the persistent store before and the image is still there."""
        stamps = self.cache / "node" / "imported"
        stamps.mkdir(parents=True, exist_ok=True)
        present = self.ctr("images", "ls", "-q").stdout.split()
        for archive in archives:
            if not archive.is_file():
                raise RuntimeError(f"image archive {archive} missing: run `make images` (or `make test`) first")
            st = archive.stat()
            stamp = stamps / (archive.name + ".json")
            want = {"size": st.st_size, "mtime": st.st_mtime_ns}
            old = json.loads(stamp.read_text()) if stamp.is_file() else {}
            if old.get("stat") == want and old.get("refs") and all(r in present for r in old["refs"]):
                continue
            # The version this archive replaces, with its content and snapshots (a 6 GB worker each), at once:
            # containerd's own collector would run only at its next start.
            stale = [r for r in old.get("refs") or _archive_refs(archive) if r in present]
            if stale:
                self.ctr("images", "rm", "--sync", *stale, check=False)
                present = [r for r in present if r not in stale]
            before = set(present)
            self.ctr("images", "import", "--no-unpack=false", str(archive), timeout=900)
            present = self.ctr("images", "ls", "-q").stdout.split()
            refs = sorted(set(present) - before) or old.get("refs") or _archive_refs(archive)
            stamp.write_text(json.dumps({"stat": want, "refs": refs}))
            self._drop_untagged_images()

    def _write_cni(self) -> None:
        conf = {
            "cniVersion": "1.0.0",
            "name": "videojob-test",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.root / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.root / "cni" / "net.d" / "10-videojob.conflist").write_text(json.dumps(conf, indent=2))

    # ---- kubelet and kube-proxy ----------------------------------------------------------------------------
    def _kubeconfig(self, name: str, server: str, ca: Path, token: str) -> Path:
        return write_kubeconfig(self.root / f"{name}.kubeconfig", server, ca, token, name)

    def _make_cgroup_root(self) -> str:
        name = f"videojob-{self.root.parent.name}"  # the session's unique temp dir
        for hierarchy in _cgroup_hierarchies():
            # a run that was killed before its teardown left its (empty) tree: its temp dir is gone too
            for stale in hierarchy.glob("videojob-vjk-*"):
                if not (Path(tempfile.gettempdir()) / stale.name.removeprefix("videojob-")).exists():
                    _rmdir_tree(stale)
            d = hierarchy / name
            d.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":  # a v1 cpuset takes no task before its cpus and mems are set
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((hierarchy / f).read_text())
        self.cgroup_root = name
        return f"/{name}"

    def _start_kubelet(self, server: str, ca: Path, client_ca: Path, token: str) -> None:
        root = self.root / "kubelet"
        root.mkdir(exist_ok=True)
        resolv = self.root / "resolv.conf"
        resolv.write_text("")  # no upstream DNS: the node has no network beyond itself
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self._make_cgroup_root(),
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(self.root / "pod-logs"),
            "address": NODE_IP,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(client_ca)},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": "cluster.local",
            "resolvConf": str(resolv),
            "failSwapOn": False,
            "serializeImagePulls": False,
            # Images are imported, never pulled: nothing may garbage-collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
            "nodeStatusUpdateFrequency": "4s",
            "nodeStatusReportFrequency": "10s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "maxPods": 110,
            "protectKernelDefaults": False,
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "registerNode": True,
        }
        path = self.root / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        kubeconfig = self._kubeconfig("kubelet", server, ca, token)
        self.processes["kubelet"] = self.spawn(
            "kubelet",
            [
                str(self.assets / "kubelet"),
                f"--config={path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={root}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self, server: str, ca: Path, token: str) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self._kubeconfig("kube-proxy", server, ca, token))},
            "mode": "iptables",
            "hostnameOverride": self.name,
            "clusterCIDR": POD_CIDR,
            "bindAddress": NODE_IP,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Pod -> service -> pod on one bridge: masquerade, so replies come back through the node.
            "iptables": {"masqueradeAll": True, "syncPeriod": "30s", "minSyncPeriod": "0s"},
            # conntrack limits are global, not per namespace: leave the host's alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.root / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self.processes["kube-proxy"] = self.spawn("kube-proxy", [str(self.assets / "kube-proxy"), f"--config={path}"])

    # ---- teardown helpers ----------------------------------------------------------------------------------
    def _restore_sysctls(self) -> None:
        for name, value in self.sysctls.items():
            path = Path("/proc/sys") / name
            with contextlib.suppress(OSError):
                if path.read_text().strip() != value:
                    path.write_text(value)

    def changed_sysctls(self) -> dict[str, tuple[str, str]]:
        now = host_sysctls()
        return {k: (v, now.get(k, "")) for k, v in self.sysctls.items() if now.get(k) != v}

    def _remove_cgroups(self) -> None:
        if not self.cgroup_root:
            return
        deadline = time.monotonic() + 20
        for hierarchy in _cgroup_hierarchies():
            top = hierarchy / self.cgroup_root
            while top.exists():
                _rmdir_tree(top)
                if top.exists():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"cgroup {top} still busy after the node stopped")
                    time.sleep(0.2)

    def log_tail(self, name: str, size: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.is_file() else ""

    def _child_of(self, pid: int, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        path = Path(f"/proc/{pid}/task/{pid}/children")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = path.read_text().split()
                if children:
                    return int(children[0])
            time.sleep(0.02)
        raise RuntimeError(f"the node's first process did not start:\n{self.log_tail('init')}")

    # ---- API objects the node needs ------------------------------------------------------------------------
    def node_patch_gpus(self) -> dict[str, Any]:
        """Extended resource, advertised the documented way (a PATCH of the node's status): no GPU stands
        behind it, so pods that ask for one are scheduled here but see no device."""
        return {"status": {"capacity": {"nvidia.com/gpu": str(self.gpus)}}}


def _rmdir_tree(top: Path) -> None:
    """Empty cgroup directories, deepest first (a cgroup is removed with rmdir, never with its files)."""
    dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for d in [*dirs, top]:
        with contextlib.suppress(OSError):
            d.rmdir()


def _cgroup_hierarchies() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        mount = parts[4]
        fstype = parts[parts.index("-") + 1]
        if mount.startswith(str(base) + "/") and fstype in ("cgroup", "cgroup2"):
            out.append(Path(mount))
    return out


def _archive_refs(archive: Path) -> list[str]:
    import tarfile

    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            return []
        return [t for m in json.load(member) for t in m.get("RepoTags") or []]


def _wait_path(path: Path, what: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} {path} did not appear in {timeout:.0f}s")
        time.sleep(0.05)
