"""Kueue's real controller manager against the test cluster, as a process the test starts and stops by pid.

Built from the Go module proxy by build-kueue.sh, with the CRDs, the manager's ClusterRole and the webhook
configurations copied from the same module's source (config/components). It is deployed as Kueue's own
kustomization deploys it, with a process on the node in place of the pod:

- The manager runs in the node's network namespace (as the operator does in tests/operator/conftest.py), its
  webhook server on the node's address. The Service `kueue-webhook-service` in `kueue-system` has no selector and
  one EndpointSlice naming that address and port, so the API server calls the webhooks exactly as on a cluster: by
  Service, through its `cluster` egress selector (the HTTP CONNECT proxy in the node, egress.py), where kube-proxy
  sends the Service's address to the manager.
- Kueue's internal certificate management is on, as by default: it signs a certificate for the Service's DNS name
  into the Secret `kueue-webhook-server-cert`, and injects its CA into the webhook configurations and the CRDs'
  conversion webhooks (turned on as config/components/crd/kustomization.yaml does). A `url:` webhook on the host's
  loopback would need a certificate for an IP address, which Kueue only takes with its certificate management off,
  and then v0.17.0 refuses to start without serving certificates at the fixed path /etc/kueue/metrics/certs.
- Only the webhooks of what the tests enable are kept: Kueue's own kinds and batch/v1 Jobs; the other frameworks'
  (pods, Deployments, Ray, ...) would intercept every test's pods with failurePolicy Fail.
- The visibility API server (feature VisibilityOnDemand) is off: it serves pending workloads through an APIService
  that no test reads. Leader election is off (one replica).
- The manager runs under a ServiceAccount bound to Kueue's own ClusterRole and Secrets Role, never as admin.

The webhook configurations are deleted before the manager stops, so that Jobs in later tests never meet a dead
webhook.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from . import procs
from .fixtures import KubeCluster
from .node import NODE_IP

KUEUE_VERSION = os.environ.get("KUEUE_VERSION", "v0.17.0")  # build-kueue.sh's
NAMESPACE = "kueue-system"
SERVICE_ACCOUNT = "kueue-controller-manager"
SERVICE = "kueue-webhook-service"  # Kueue's defaults (internalCertManagement)
SECRET = "kueue-webhook-server-cert"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GROUP, VERSION = "kueue.x-k8s.io", "v1beta2"
# The webhooks of Kueue's own kinds and of batch/v1 Jobs, by their paths in config/components/webhook.
KEPT_WEBHOOKS = re.compile(r"^/(mutate|validate)-(kueue-x-k8s-io-v1beta2-[a-z]+|batch-v1-job)$")
# The CRDs whose conversion webhook Kueue's kustomization turns on (config/components/crd/kustomization.yaml).
CONVERTED = ("localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters")
BUILD_SCRIPT = Path(__file__).with_name("build-kueue.sh")


def kueue_dir() -> Path:
    """The built manager and manifests: VIDEOJOB_KUEUE (build-kueue.sh --print-env), else built now (idempotent)."""
    given = os.environ.get("VIDEOJOB_KUEUE")
    if given and (Path(given) / "kueue").is_file():
        return Path(given)
    out = subprocess.run([str(BUILD_SCRIPT), "--print-env"], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"tests/cluster/build-kueue.sh failed: {out.stderr[-2000:]}")
    return Path(out.stdout.strip().rpartition("=")[2])


def build_config(webhook_port: int, health_port: int, cert_dir: Path) -> dict[str, Any]:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2): batch/v1 Jobs that carry a queue name, nothing else."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": "0"},  # off: no test scrapes it
        "webhook": {"host": NODE_IP, "port": webhook_port, "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": True, "webhookServiceName": SERVICE, "webhookSecretName": SECRET},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
    }


def _service_ref(path: str) -> dict[str, Any]:
    return {"namespace": NAMESPACE, "name": SERVICE, "path": path}


def build_webhooks(manifest: str) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, named and pointed at the Service as its kustomization does (`kueue-` prefix,
    namespace `kueue-system`), kept to KEPT_WEBHOOKS. Kueue injects their CA bundle."""
    out = []
    for doc in yaml.safe_load_all(manifest):
        if not doc:
            continue
        doc = copy.deepcopy(doc)
        doc["metadata"]["name"] = f"kueue-{doc['metadata']['name']}"
        kept = []
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            if KEPT_WEBHOOKS.match(path):
                hook["clientConfig"] = {"service": _service_ref(path)}
                kept.append(hook)
        doc["webhooks"] = kept
        out.append(doc)
    return out


def build_crd(crd: dict[str, Any]) -> dict[str, Any]:
    """A Kueue CRD, with the conversion webhook Kueue's kustomization gives the kinds in CONVERTED."""
    crd = copy.deepcopy(crd)
    if crd["spec"]["names"]["plural"] in CONVERTED:
        crd["spec"]["conversion"] = {
            "strategy": "Webhook",
            "webhook": {"clientConfig": {"service": _service_ref("/convert")}, "conversionReviewVersions": ["v1"]},
        }
    return crd


def build_deployment(role: dict[str, Any], secrets_role: dict[str, Any], webhook_port: int) -> list[dict[str, Any]]:
    """What Kueue's kustomization deploys around its pod: ServiceAccount, its ClusterRole and Secrets Role with
    their bindings, the empty Secret its certificate management fills, and the webhook Service, here with an
    EndpointSlice naming the manager's address on the node instead of a pod selector."""
    rbac = "rbac.authorization.k8s.io"
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    role = {**copy.deepcopy(role), "metadata": {"name": "kueue-manager-role"}}
    secrets_role = {
        **copy.deepcopy(secrets_role),
        "metadata": {"name": "kueue-manager-secrets-role", "namespace": NAMESPACE},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}},
        role,
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kueue-manager-rolebinding"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "kueue-manager-role"},
            "subjects": subject,
        },
        secrets_role,
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "kueue-manager-secrets-rolebinding", "namespace": NAMESPACE},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "kueue-manager-secrets-role"},
            "subjects": subject,
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, "namespace": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": webhook_port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{SERVICE}-node",
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "videojob-tests",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": webhook_port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        },
    ]


def build_queues(name: str, namespace: str, quota: dict[str, str]) -> list[dict[str, Any]]:
    """A ResourceFlavor, a ClusterQueue with `quota` of it, and a LocalQueue in `namespace`, all named `name`."""
    api = f"{GROUP}/{VERSION}"
    resources = [{"name": r, "nominalQuota": q} for r, q in quota.items()]
    return [
        {"apiVersion": api, "kind": "ResourceFlavor", "metadata": {"name": name}},
        {
            "apiVersion": api,
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "resourceGroups": [
                    {"coveredResources": list(quota), "flavors": [{"name": name, "resources": resources}]}
                ],
            },
        },
        {
            "apiVersion": api,
            "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterQueue": name},
        },
    ]


@dataclass
class Kueue:
    kube: KubeCluster
    root: Path
    assets: Path = field(default_factory=kueue_dir)
    proc: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def manifests(self) -> Path:
        return self.assets / "manifests"

    @property
    def log(self) -> Path:
        return self.root / "kueue.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        webhook_port, self.health_port = procs.free_port(), procs.free_port()
        crds = [build_crd(yaml.safe_load(p.read_text())) for p in sorted((self.manifests / "crds").glob("*.yaml"))]
        self._apply(crds, server_side=True)
        for crd in crds:
            self.kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
        self.kube.kubectl("create", "namespace", NAMESPACE, check=False)
        role, secrets_role = (
            yaml.safe_load((self.manifests / f).read_text()) for f in ("role.yaml", "secrets_role.yaml")
        )
        self._apply(build_deployment(role, secrets_role, webhook_port))
        # Before the manager, as a kustomize deployment has them: Kueue injects its CA into those that exist.
        self.webhooks = build_webhooks((self.manifests / "webhooks.yaml").read_text())
        self._apply(self.webhooks)
        kubeconfig = self.kube.service_account_kubeconfig(NAMESPACE, SERVICE_ACCOUNT)
        config = self.root / "config.yaml"
        config.write_text(yaml.safe_dump(build_config(webhook_port, self.health_port, self.root / "certs")))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        self.kube.node.expose_node_port(self.health_port)
        args = [
            str(self.assets / "kueue"),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            "--feature-gates=VisibilityOnDemand=false",
            "--zap-log-level=2",
        ]
        self.proc = procs.start(self.kube.node.enter_net(args), self.log, env)
        self._project_secret(self.root / "certs")
        self.kube.wait_for("Kueue ready (certificates injected, webhooks serving)", self.ready, timeout=120)

    def _project_secret(self, cert_dir: Path) -> None:
        """What kubelet does for the manager's pod: the Secret Kueue signs its certificate into, as files in its
        certDir (Kueue waits for them there)."""
        core = client.CoreV1Api(self.kube.api_client())

        def signed() -> dict[str, str] | None:
            self.ready()  # fails at once if the manager exited
            data = core.read_namespaced_secret(SECRET, NAMESPACE).data or {}
            return data if "tls.crt" in data and "tls.key" in data else None

        data = self.kube.wait_for(f"Kueue to sign its certificate into Secret {SECRET}", signed, timeout=60)
        cert_dir.mkdir(parents=True, exist_ok=True)
        for name, value in data.items():
            tmp = cert_dir / f".{name}.tmp"
            tmp.write_bytes(base64.b64decode(value))
            tmp.chmod(0o600)
            tmp.rename(cert_dir / name)

    def _apply(self, docs: list[dict[str, Any]], server_side: bool = False) -> None:
        # Kueue's Workload CRD is past the 256 KiB last-applied annotation: server-side apply.
        args = ["apply", "--server-side", "--force-conflicts"] if server_side else ["apply"]
        self.kube.kubectl(*args, "-f", "-", input=yaml.safe_dump_all(docs))

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"kueue exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        for doc in self.webhooks:
            self.kube.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False)
        if self.proc is not None:
            procs.stop(self.proc)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # --- queues and workloads -------------------------------------------------------------------------------------

    def create_queues(self, name: str, namespace: str, quota: dict[str, str]) -> None:
        """ResourceFlavor, ClusterQueue and LocalQueue `name`, once Kueue reports them Active."""
        self._apply(build_queues(name, namespace, quota))
        self.kube.wait_for(f"ClusterQueue {name} Active", lambda: self._active("clusterqueues", name), timeout=60)
        self.kube.wait_for(
            f"LocalQueue {name} Active", lambda: self._active("localqueues", name, namespace), timeout=60
        )

    def delete_queues(self, name: str, namespace: str) -> None:
        """While the manager runs: its finalizers hold the queues until their workloads are gone."""
        for kind, ns in (("localqueue", namespace), ("clusterqueue", None), ("resourceflavor", None)):
            scope = ["-n", ns] if ns else []
            self.kube.kubectl("delete", f"{kind}.{GROUP}", name, *scope, "--wait=true", "--timeout=60s", check=False)

    def _active(self, plural: str, name: str, namespace: str | None = None) -> bool:
        obj = self.get(plural, name, namespace)
        return any(c["type"] == "Active" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        api = client.CustomObjectsApi(self.kube.api_client())
        if namespace is None:
            return dict(api.get_cluster_custom_object(GROUP, VERSION, plural, name))
        return dict(api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))

    def workloads(self, namespace: str) -> list[dict[str, Any]]:
        api = client.CustomObjectsApi(self.kube.api_client())
        return list(api.list_namespaced_custom_object(GROUP, VERSION, namespace, "workloads")["items"])


def condition_time(obj: dict[str, Any], kind: str) -> str | None:
    """lastTransitionTime of a True condition `kind`, else None."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return str(c["lastTransitionTime"])
    return None


@contextlib.contextmanager
def running_kueue(kube: KubeCluster, root: Path) -> Iterator[Kueue]:
    kueue = Kueue(kube, root)
    try:
        kueue.start()
        yield kueue
    except BaseException:
        print(f"---- kueue log ----\n{kueue.logs()[-6000:]}")
        raise
    finally:
        kueue.stop()
