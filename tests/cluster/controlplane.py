"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, built by build-controlplane.sh."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import procs
from .pki import Pki

ADMIN_TOKEN_USER = "videojob-test-admin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def assets_dir() -> Path:
    value = os.environ.get("KUBEBUILDER_ASSETS", "")
    path = Path(value) if value else None
    missing = [b for b in BINARIES if path is None or not (path / b).is_file()]
    if missing:
        raise RuntimeError(
            f"control plane binaries missing ({', '.join(missing)}): run "
            "`source <(tests/cluster/build-controlplane.sh --print-env)` (or `make test`) first"
        )
    assert path is not None
    return path


def write_kubeconfig(path: Path, server: str, ca: Path, token: str, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    root: Path
    assets: Path = field(default_factory=assets_dir)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    server: str = ""
    kubeconfig: Path = Path()
    ca: Path = Path()
    started_seconds: float = 0.0
    # With a real node: the API server's address as pods see it, its certificates (valid for that address and
    # the `kubernetes` service), the Unix socket of the node's egress proxy, and tokens for kubelet/kube-proxy.
    advertise_address: str = "127.0.0.1"
    pki: Pki | None = None
    egress_socket: Path | None = None
    service_cidr: str = "10.96.0.0/24"
    tokens: dict[str, str] = field(default_factory=dict)
    api_port: int = 0
    node_name: str = "vj-node-1"

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "audit.jsonl"

    @staticmethod
    def _audit_policy(folder: Path) -> Path:
        """ServiceAccounts outside kube-system (the operator's, helm-installed or not), at Metadata level; nothing
        else, so that the log stays small (the control plane's own controllers make most requests)."""
        policy = folder / "audit-policy.yaml"
        policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
            "  - level: None\n    userGroups: [system:serviceaccounts:kube-system]\n"
            "  - level: Metadata\n    userGroups: [system:serviceaccounts]\n"
            "  - level: None\n"
        )
        return policy

    def start(self) -> None:
        t0 = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        logs, certs = self.root / "logs", self.root / "certs"
        certs.mkdir(exist_ok=True)
        sa_key, sa_pub = certs / "sa.key", certs / "sa.pub"
        # Service-account signing keys, fresh for every run.
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)], check=True, capture_output=True
        )
        token = os.urandom(16).hex()
        # kubelet as system:node:<name> (Node authorizer), kube-proxy as the user system:node-proxier binds
        users = {"kubelet": ("system:node:{node}", "system:nodes"), "kube-proxy": ("system:kube-proxy", "")}
        lines = [f'{token},{ADMIN_TOKEN_USER},1,"system:masters"']
        for i, (who, (user, group)) in enumerate(users.items(), start=2):
            self.tokens[who] = os.urandom(16).hex()
            lines.append(f'{self.tokens[who]},{user.format(node=self.node_name)},{i},"{group}"')
        (certs / "tokens.csv").write_text("\n".join(lines) + "\n")

        etcd_port, etcd_peer = procs.free_port(), procs.free_port()
        self.processes["etcd"] = procs.start(
            [
                str(self.assets / "etcd"),
                "--data-dir",
                str(self.root / "etcd"),
                "--name",
                "test",
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"test=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
            logs / "etcd.log",
        )
        api_port = self.api_port = procs.free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self.processes["kube-apiserver"] = procs.start(
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--advertise-address={self.advertise_address}",
                f"--secure-port={api_port}",
                *self._tls_args(certs),
                f"--token-auth-file={certs / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--allow-privileged=false",
                "--watch-cache=true",
                # Requests of the operators' and CLIs' ServiceAccounts, for tests and benches that count them.
                f"--audit-policy-file={self._audit_policy(certs)}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--v=1",
            ],
            logs / "kube-apiserver.log",
        )
        self.ca = self.pki.ca if self.pki else certs / "apiserver.crt"
        self._wait_ready(token)
        self.kubeconfig = write_kubeconfig(self.root / "admin.kubeconfig", self.server, self.ca, token, "admin")
        common = [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
        ]
        self.processes["kube-controller-manager"] = procs.start(
            [
                str(self.assets / "kube-controller-manager"),
                *common,
                f"--secure-port={procs.free_port()}",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa_key}",
                f"--root-ca-file={self.ca}",
                "--cluster-signing-duration=1h",
                # the pod runner heartbeats every few seconds; be patient with a loaded CI machine
                "--node-monitor-grace-period=60s",
                "--concurrent-job-syncs=5",
                # claims made by tests bind on the binder's periodic sync as often as on events; keep it short
                "--pvclaimbinder-sync-period=1s",
                "--v=1",
            ],
            logs / "kube-controller-manager.log",
        )
        self.processes["kube-scheduler"] = procs.start(
            [str(self.assets / "kube-scheduler"), *common, f"--secure-port={procs.free_port()}", "--v=1"],
            logs / "kube-scheduler.log",
        )
        self.started_seconds = time.monotonic() - t0

    def _tls_args(self, certs: Path) -> list[str]:
        if self.pki is None:  # the API server signs its own serving certificate for 127.0.0.1
            return [f"--cert-dir={certs}"]
        args = [
            f"--tls-cert-file={self.pki.cert('apiserver')}",
            f"--tls-private-key-file={self.pki.key('apiserver')}",
            f"--kubelet-client-certificate={self.pki.cert('apiserver-kubelet-client')}",
            f"--kubelet-client-key={self.pki.key('apiserver-kubelet-client')}",
        ]
        if self.egress_socket is not None:
            egress = {
                "apiVersion": "apiserver.k8s.io/v1beta1",
                "kind": "EgressSelectorConfiguration",
                "egressSelections": [
                    {
                        "name": "cluster",
                        "connection": {
                            "proxyProtocol": "HTTPConnect",
                            "transport": {"uds": {"udsName": str(self.egress_socket)}},
                        },
                    }
                ],
            }
            path = certs / "egress.yaml"
            path.write_text(yaml.safe_dump(egress))
            args.append(f"--egress-selector-config-file={path}")
            # the node's name resolves nowhere: dial kubelet by the address it reports
            args.append("--kubelet-preferred-address-types=InternalIP,Hostname")
        return args

    def _wait_ready(self, token: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    log = (self.root / "logs" / f"{name}.log").read_text()[-3000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")
            if self.ca.is_file():
                ctx = ssl.create_default_context(cafile=str(self.ca))
                req = urllib.request.Request(f"{self.server}/readyz", headers={"Authorization": f"Bearer {token}"})
                try:
                    with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                        if resp.status == 200:
                            return
                except OSError as exc:
                    last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"kube-apiserver not ready after {timeout:.0f}s: {last}")

    def stop(self) -> None:
        # Reverse order: controllers first, etcd last.
        # The API server's graceful shutdown waits ~10 s for open watches; its data is throwaway, so be brief.
        for name in reversed(list(self.processes)):
            procs.stop(self.processes[name], grace=3.0)
        self.processes.clear()
