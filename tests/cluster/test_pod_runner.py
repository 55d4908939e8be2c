"""The pod runner (test double for kubelet) reports what kubelet would: termination messages, exit codes,
graceful deletion, disruption conditions. The API server and controllers around it are real."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

pytestmark = pytest.mark.cluster
HOLD = "videojob.test/hold"  # a finalizer of ours keeps a finished pod readable after the runner's final delete


def pod(name: str, script: str, grace: int = 30, finalizers: list[str] | None = None, **container: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "finalizers": finalizers or []},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": grace,
            # the test namespaces enforce the restricted Pod Security profile
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "example.invalid/never-pulled:1",
                    "command": ["python", "-c", script],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    **container,
                }
            ],
        },
    }


def read(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod | None:
    try:
        return core.read_namespaced_pod(name, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def phase(core: client.CoreV1Api, namespace: str, name: str) -> str:
    p = read(core, namespace, name)
    return "Gone" if p is None else p.status.phase


def terminated(p: client.V1Pod) -> client.V1ContainerStateTerminated:
    return p.status.container_statuses[0].state.terminated


def release(core: client.CoreV1Api, namespace: str, name: str) -> None:
    core.patch_namespaced_pod(name, namespace, {"metadata": {"finalizers": None}})


def test_termination_message_is_the_files_tail_or_the_logs(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    # the message file reaches the process through env, where the runner maps terminationMessagePath
    big = "import os,sys; open(os.environ['MSG'],'w').write('A'*5000+'END'); sys.exit(3)"
    env = [{"name": "MSG", "value": "/dev/termination-log"}]
    core.create_namespaced_pod(namespace, pod("file", big, env=env))
    logs = "import sys; print('\\n'.join(str(i) for i in range(200))); sys.exit(1)"
    core.create_namespaced_pod(namespace, pod("logs", logs, terminationMessagePolicy="FallbackToLogsOnError"))
    ok = "print('fine')"
    core.create_namespaced_pod(namespace, pod("ok", ok, terminationMessagePolicy="FallbackToLogsOnError"))
    kube.wait_for(
        "pods to end",
        lambda: all(
            phase(core, namespace, n) != "Running" and phase(core, namespace, n) != "Pending"
            for n in ("file", "logs", "ok")
        ),
    )

    file_state = terminated(read(core, namespace, "file"))
    assert (file_state.exit_code, file_state.reason) == (3, "Error")
    assert len(file_state.message) == 4096 and file_state.message.endswith("AEND")  # kubelet keeps the tail
    logs_state = terminated(read(core, namespace, "logs"))
    assert logs_state.message.split() == [str(i) for i in range(120, 200)]  # the last 80 lines
    ok_pod = read(core, namespace, "ok")
    assert ok_pod.status.phase == "Succeeded"
    assert (terminated(ok_pod).exit_code, terminated(ok_pod).reason) == (0, "Completed")
    assert not terminated(ok_pod).message  # the logs stand in only for failures
    assert kube.runner.log_path(namespace, "ok").read_text() == "fine\n"


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    stubborn = (
        "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )
    polite = "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); print('up', flush=True); time.sleep(60)"
    core.create_namespaced_pod(namespace, pod("stubborn", stubborn, grace=3))
    core.create_namespaced_pod(namespace, pod("polite", polite, grace=30))

    def up(name: str) -> bool:
        path = kube.runner.log_path(namespace, name)
        return phase(core, namespace, name) == "Running" and path.exists() and "up" in path.read_text()

    kube.wait_for("both processes to run", lambda: up("stubborn") and up("polite"), timeout=60, interval=0.1)
    t0 = time.monotonic()
    core.delete_namespaced_pod("stubborn", namespace)
    core.delete_namespaced_pod("polite", namespace)
    kube.wait_for(
        "both pods to be gone",
        lambda: phase(core, namespace, "stubborn") == phase(core, namespace, "polite") == "Gone",
        timeout=30,
        interval=0.1,
    )
    records = {r.name: r for r in kube.runner.records if r.namespace == namespace}
    assert records["polite"].exit_code == 7 and records["polite"].end - t0 < 3  # SIGTERM handled at once
    assert records["stubborn"].exit_code == 137 and 2.5 < records["stubborn"].end - t0 < 10  # SIGKILL after 3 s


def test_kill_fails_the_pod_with_exit_code_137(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_pod(namespace, pod("victim", "import time; time.sleep(60)"))
    kube.wait_for("the pod to run", lambda: phase(core, namespace, "victim") == "Running", timeout=60, interval=0.1)
    kube.wait_for(
        "its process", lambda: any(r.name == "victim" for r in kube.runner.records if r.namespace == namespace)
    )
    kube.runner.kill(namespace, "victim")
    kube.wait_for("the pod to fail", lambda: phase(core, namespace, "victim") == "Failed", timeout=30, interval=0.1)
    state = terminated(read(core, namespace, "victim"))
    assert (state.exit_code, state.reason) == (137, "Error")


@pytest.mark.parametrize("how", ["evict", "preempt"])
def test_disrupted_pod_gets_disruption_target_and_ends_failed(kube, namespace, how: str) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_pod(namespace, pod("disrupted", "import time; time.sleep(60)", grace=1, finalizers=[HOLD]))
    kube.wait_for("the pod to run", lambda: phase(core, namespace, "disrupted") == "Running", timeout=60, interval=0.1)
    getattr(kube.runner, how)(namespace, "disrupted")
    kube.wait_for("the pod to fail", lambda: phase(core, namespace, "disrupted") == "Failed", timeout=30, interval=0.1)
    p = read(core, namespace, "disrupted")
    try:
        conditions = {c.type: c for c in p.status.conditions}
        reason = {"evict": "EvictionByEvictionAPI", "preempt": "PreemptionByScheduler"}[how]
        assert conditions["DisruptionTarget"].status == "True" and conditions["DisruptionTarget"].reason == reason
        assert p.metadata.deletion_timestamp is not None
        assert terminated(p).exit_code != 0
    finally:
        release(core, namespace, "disrupted")


def test_service_account_kubeconfig_has_only_what_rbac_grants(kube, namespace) -> None:
    sa = kube.service_account_kubeconfig(namespace, "default")
    denied = kube.kubectl("get", "pods", "-n", namespace, kubeconfig=sa, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    kube.kubectl("create", "role", "read-pods", "--verb=list", "--resource=pods", "-n", namespace)
    kube.kubectl(
        "create",
        "rolebinding",
        "read-pods",
        "--role=read-pods",
        f"--serviceaccount={namespace}:default",
        "-n",
        namespace,
    )
    kube.wait_for(
        "RBAC to allow it",
        lambda: kube.kubectl("get", "pods", "-n", namespace, kubeconfig=sa, check=False).returncode == 0,
        timeout=30,
    )
    assert kube.kubectl("get", "pods", "-A", kubeconfig=sa, check=False).returncode != 0  # namespaced grant only


def test_env_and_args_as_kubelet_builds_them(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "fast"})
    )
    script = "import os,sys; print(sys.argv[1:], os.environ['WHO'], os.environ['MODE'], os.environ['NODE'])"
    env = [
        {"name": "WHO", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "GREETING", "value": "hi-$(WHO)"},
    ]
    core.create_namespaced_pod(namespace, pod("envy", script, env=env, args=["$(GREETING)", "$$(WHO)", "$(NOPE)"]))
    kube.wait_for("the pod to succeed", lambda: phase(core, namespace, "envy") == "Succeeded", timeout=60)
    node = read(core, namespace, "envy").spec.node_name
    out = kube.runner.log_path(namespace, "envy").read_text()
    assert out == f"['hi-envy', '$(WHO)', '$(NOPE)'] envy fast {node}\n"


def test_secret_key_refs_are_read_through_the_api_server(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"url": "redis://:pw@r:6379/0"}),
    )
    script = "import os; print(os.environ['URL'], os.environ.get('GONE', '-'), os.environ.get('NOKEY', '-'))"
    env = [
        {"name": "URL", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "url"}}},
        {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "url", "optional": True}}},
        {"name": "NOKEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "other", "optional": True}}},
    ]
    core.create_namespaced_pod(namespace, pod("secretive", script, env=env))
    kube.wait_for("the pod to succeed", lambda: phase(core, namespace, "secretive") == "Succeeded", timeout=60)
    assert kube.runner.log_path(namespace, "secretive").read_text() == "redis://:pw@r:6379/0 - -\n"
    # Not optional and missing: the container cannot run.
    env = [{"name": "URL", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "url"}}}]
    core.create_namespaced_pod(namespace, pod("needy", script, env=env))
    kube.wait_for("the pod to fail", lambda: phase(core, namespace, "needy") == "Failed", timeout=60)
    state = terminated(read(core, namespace, "needy"))
    assert state.reason == "ContainerCannotRun" and "Secret 'absent' not found" in state.message


def test_a_missing_executable_fails_the_pod_as_a_start_error(kube, namespace) -> None:
    core = client.CoreV1Api(kube.api_client())
    body = pod("missing", "unused")
    body["spec"]["containers"][0]["command"] = ["videojob-no-such-executable"]
    core.create_namespaced_pod(namespace, body)
    kube.wait_for("the pod to fail", lambda: phase(core, namespace, "missing") == "Failed", timeout=60, interval=0.1)
    state = terminated(read(core, namespace, "missing"))
    assert (state.exit_code, state.reason) == (128, "StartError")
    assert "videojob-no-such-executable" in state.message
