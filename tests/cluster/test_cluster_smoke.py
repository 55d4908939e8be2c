"""The harness is real: the API server validates, the Job controller, scheduler and garbage collector act, and
kubelet runs the pods in containers on the test node."""

from __future__ import annotations

import os
import time

import pytest
from kubernetes import client

from cluster.fixtures import POD_UID, WORKER_SLIM_IMAGE

pytestmark = pytest.mark.cluster


def job(name: str, namespace: str, command: list[str], completions: int, parallelism: int, **spec: object) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "main",
                            "image": WORKER_SLIM_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": command,
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            **spec.pop("container", {}),  # type: ignore[dict-item]
                        }
                    ],
                    **spec.pop("pod", {}),  # type: ignore[dict-item]
                }
            },
            **spec,
        },
    }


def diagnose(kube, namespace: str) -> str:
    """Pods, their states and termination messages: what a failed assertion should show."""
    lines = []
    for p in client.CoreV1Api(kube.api_client()).list_namespaced_pod(namespace).items:
        states = [c.state.to_dict() for c in p.status.container_statuses or []]
        lines.append(
            f"{p.metadata.name} {p.status.phase} {p.status.conditions and [c.type for c in p.status.conditions]} {states}"
        )
    for e in client.CoreV1Api(kube.api_client()).list_namespaced_event(namespace).items[-15:]:
        lines.append(f"event {e.reason}: {e.message}")
    return "\n".join(lines)


def job_status(kube, namespace: str, name: str) -> client.V1JobStatus:
    return client.BatchV1Api(kube.api_client()).read_namespaced_job_status(name, namespace).status


def finished(kube, namespace: str, name: str) -> str | None:
    for c in job_status(kube, namespace, name).conditions or []:
        if c.type in ("Complete", "Failed") and c.status == "True":
            return c.type
    return None


def test_invalid_structural_schema_is_refused(kube) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "broken.example.dev"},
        "spec": {
            "group": "example.dev",
            "names": {"plural": "broken", "singular": "broken", "kind": "Broken"},
            "scope": "Namespaced",
            # not structural: a property without a type
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {}}}},
                }
            ],
        },
    }
    with pytest.raises(client.ApiException) as info:
        client.ApiextensionsV1Api(kube.api_client()).create_custom_resource_definition(crd)
    assert info.value.status == 422
    assert "type" in info.value.body


def test_indexed_job_runs_one_process_per_index(kube, namespace) -> None:
    out = kube.create_claim(namespace, "data") / "out"
    out.mkdir()
    os.chown(out, POD_UID, POD_UID)  # the pods' user writes there
    script = "import os,pathlib; i=os.environ['JOB_COMPLETION_INDEX']; pathlib.Path(os.environ['OUT'], i).write_text(i)"
    body = job(
        "indexed",
        namespace,
        ["python", "-c", script],
        3,
        3,
        completionMode="Indexed",
        pod={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
        container={
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "env": [{"name": "OUT", "value": "/data/out"}],
        },
    )
    client.BatchV1Api(kube.api_client()).create_namespaced_job(namespace, body)
    done = kube.wait_for("the Job to finish", lambda: finished(kube, namespace, "indexed"))
    assert done == "Complete", diagnose(kube, namespace)
    assert sorted(p.read_text() for p in out.iterdir()) == ["0", "1", "2"]
    runs = [r for r in kube.control.records if r.namespace == namespace]
    assert sorted(r.env["JOB_COMPLETION_INDEX"] for r in runs) == ["0", "1", "2"]
    assert all(r.image == WORKER_SLIM_IMAGE and r.node == kube.node.name for r in runs)


def test_a_two_gpu_node_runs_at_most_two_gpu_pods(kube, namespace) -> None:
    """The node advertises nvidia.com/gpu: 2 as an extended resource; no GPU stands behind it (the pods get no
    device), which is enough for the scheduler's accounting that this checks."""
    body = job(
        "gpus",
        namespace,
        ["python", "-c", "import time; time.sleep(2)"],
        4,
        4,
        container={"resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}},
    )
    client.BatchV1Api(kube.api_client()).create_namespaced_job(namespace, body)
    assert kube.wait_for("the Job to finish", lambda: finished(kube, namespace, "gpus"), timeout=180) == "Complete"
    runs = [r for r in kube.control.records if r.namespace == namespace]
    assert len(runs) == 4
    events = sorted([(r.start, 1) for r in runs] + [(r.end or time.monotonic(), -1) for r in runs])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert {r.node for r in runs} == {kube.node.name}


def test_garbage_collector_deletes_children(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for i in range(2):
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"child-{i}", owner_references=[ref]))
        )
    core.delete_namespaced_config_map("owner", namespace)
    kube.wait_for(
        "children to be collected",
        lambda: (
            not [c for c in core.list_namespaced_config_map(namespace).items if c.metadata.name.startswith("child-")]
        ),
        timeout=60,
    )


def test_evicted_pod_is_a_disruption_not_a_failure(kube, namespace) -> None:
    body = job(
        "evict",
        namespace,
        # PID 1 in a container gets no SIGTERM it has no handler for (the worker has one; see worker/__main__.py)
        ["python", "-c", "import signal, sys, time; signal.signal(15, lambda *_: sys.exit(143)); time.sleep(3)"],
        1,
        1,
        podFailurePolicy={"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
        podReplacementPolicy="Failed",
    )
    client.BatchV1Api(kube.api_client()).create_namespaced_job(namespace, body)
    core = client.CoreV1Api(kube.api_client())

    def running_pod() -> str | None:
        for p in core.list_namespaced_pod(namespace, label_selector="job-name=evict").items:
            if p.status.phase == "Running":
                return p.metadata.name
        return None

    first = kube.wait_for("a running pod", running_pod)
    kube.control.evict(namespace, first)
    assert kube.wait_for("the Job to finish", lambda: finished(kube, namespace, "evict"), timeout=120) == "Complete"
    status = job_status(kube, namespace, "evict")
    assert status.failed in (None, 0), "an evicted pod must not count as a failure"
    runs = sorted((r for r in kube.control.records if r.namespace == namespace), key=lambda r: r.start)
    # the evicted run failed (it would count against backoffLimit 0 but for the policy); its replacement succeeded
    assert [r.name == first for r in runs] == [True, False], (runs, status)
    assert runs[0].exit_code != 0 and runs[1].exit_code == 0
