"""The test node is a real one: kubelet runs pods in containers (containerd, runc), with pod networking (CNI
bridge), services (kube-proxy), cluster DNS (CoreDNS) and the restricted security context enforced by the
runtime, not by the harness."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from kubernetes import client

from cluster.fixtures import OPERATOR_IMAGE, KubeCluster

pytestmark = pytest.mark.cluster

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def run_pod(kube: KubeCluster, namespace: str, name: str, script: str, **container: object) -> tuple[str, str]:
    """A one-shot pod running `python3 -c script` in the operator image; returns (phase, logs)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": OPERATOR_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", textwrap.dedent(script)],
                    "securityContext": RESTRICTED,
                    **container,
                }
            ],
        },
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    core = client.CoreV1Api(kube.api_client())

    def done() -> str | None:
        phase = core.read_namespaced_pod(name, namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else None

    phase = kube.wait_for(f"pod {name} to finish", done, timeout=120, interval=0.2)
    return phase, kube.kubectl("logs", name, "-n", namespace).stdout  # through kubelet, over the API's egress


def test_node_is_a_kubelet_with_containerd_and_advertised_gpus(kube) -> None:
    node = client.CoreV1Api(kube.api_client()).read_node(kube.node.name)
    info = node.status.node_info
    assert info.kubelet_version == "v1.35.4"
    assert info.container_runtime_version.startswith("containerd://1.")
    # An extended resource patched into the node status (the documented way); no GPU stands behind it.
    assert node.status.allocatable["nvidia.com/gpu"] == str(kube.node.gpus)
    assert {a.type: a.address for a in node.status.addresses}["InternalIP"] == "10.200.0.2"


def test_pod_resolves_services_and_reaches_the_api_through_its_service_ip(kube, namespace) -> None:
    script = """
        import json, socket, ssl, urllib.request
        sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
        ip = socket.gethostbyname("kubernetes.default.svc.cluster.local")
        ctx = ssl.create_default_context(cafile=sa + "ca.crt")
        req = urllib.request.Request("https://kubernetes.default.svc/version",
                                     headers={"Authorization": "Bearer " + open(sa + "token").read()})
        version = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"]
        print(json.dumps({"ip": ip, "version": version, "hostname": socket.gethostname()}))
    """
    phase, logs = run_pod(kube, namespace, "dns", script)
    assert phase == "Succeeded", logs
    seen = json.loads(logs.strip().splitlines()[-1])
    assert seen == {"ip": "10.96.0.1", "version": "v1.35.4", "hostname": "dns"}


def test_runtime_enforces_read_only_root_and_the_user(kube, namespace) -> None:
    script = """
        import os
        print(os.getuid(), os.getgid())
        try:
            open("/written-by-pod", "w")
        except OSError as exc:
            print("refused", exc.errno)
    """
    phase, logs = run_pod(kube, namespace, "ro", script)
    assert phase == "Succeeded", logs
    assert logs.split() == ["10001", "10001", "refused", "30"]  # the image's group; EROFS


def test_termination_message_and_exit_code_come_from_kubelet(kube, namespace) -> None:
    script = """
        import sys
        open("/dev/termination-log", "w").write("the reason, in one line")
        sys.exit(3)
    """
    phase, _ = run_pod(kube, namespace, "term", script, terminationMessagePolicy="FallbackToLogsOnError")
    assert phase == "Failed"
    pod = client.CoreV1Api(kube.api_client()).read_namespaced_pod("term", namespace)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.message) == (3, "the reason, in one line")
