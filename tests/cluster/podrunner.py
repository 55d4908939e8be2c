"""A test double for kubelet: runs the pods the real scheduler binds to its fake nodes as local processes.

These machines have no container runtime and no GPU, so this stands in for kubelet, and only for it: the API server,
scheduler, Job controller and garbage collector are the real ones. Deviations from kubelet, on purpose:
- the image is not pulled (it is recorded); `python`/`python3` commands run this test run's interpreter (the
  project's venv), other bare names in the venv's bin dir run from there; `$(VAR)` references are expanded;
- volumes are local directories: a persistentVolumeClaim mounts its bound PersistentVolume's hostPath directly,
  an emptyDir is a temp dir;
  env values and args that start with a volume's mountPath (or equal the terminationMessagePath) are rewritten
  to the local path that stands for it, since processes cannot mount, and so are such paths quoted inside a JSON
  env value (the worker's VIDEOJOB_CONFIG);
- one container per pod (init containers and sidecars are not run); restartPolicy is treated as Never (Jobs
  replace failed pods themselves); securityContext (runAsUser...) and resource limits are not enforced;
- env: PATH/LANG/HOME/TMPDIR from the test run, then the pod's value, fieldRef, secretKeyRef, configMapKeyRef
  (a missing non-optional Secret/ConfigMap or key fails the pod at once instead of keeping it waiting);
- `kubectl logs` has no kubelet to ask: logs are files, see `log_path`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .podenv import executable, expand, field_value, rewrite
from .podstatus import container_status, node_info, now, pod_conditions, termination_message

log = logging.getLogger("podrunner")


@dataclass
class Record:
    namespace: str
    name: str
    node: str
    image: str
    command: list[str]
    env: dict[str, str]
    start: float
    end: float | None = None
    exit_code: int | None = None
    terminating: float | None = None  # when a deletion made the runner send SIGTERM


@dataclass
class NodeSpec:
    name: str
    cpu: str = "8"
    memory: str = "16Gi"
    gpus: int = 1
    gpu_resource: str = "nvidia.com/gpu"


@dataclass
class PodRunner:
    api: client.ApiClient
    nodes: list[NodeSpec] = field(default_factory=lambda: [NodeSpec("node-a"), NodeSpec("node-b")])
    records: list[Record] = field(default_factory=list)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _killed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.scratch = Path(tempfile.mkdtemp(prefix="podrunner-"))

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        for node in self.nodes:
            self._register(node)
        for target in (self._heartbeat, self._watch_pods):
            t = threading.Thread(target=target, daemon=True, name=f"podrunner-{target.__name__}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for t in self._threads:
            t.join(timeout=1)  # daemon threads; the watch ends when the API server stops

    def claim_path(self, namespace: str, claim: str) -> Path:
        """The hostPath of the PersistentVolume the claim is bound to, as kubelet would mount it."""
        pvc = self.core.read_namespaced_persistent_volume_claim(claim, namespace)
        if pvc.status.phase != "Bound" or not pvc.spec.volume_name:
            raise RuntimeError(f"claim {claim} is not bound")
        pv = self.core.read_persistent_volume(pvc.spec.volume_name)
        source = pv.spec.host_path or pv.spec.local
        if source is None:
            raise RuntimeError(f"volume {pv.metadata.name} is neither hostPath nor local")
        return Path(source.path)

    def log_path(self, namespace: str, name: str) -> Path:
        return self.scratch / namespace / name / "container.log"

    # ---- nodes ---------------------------------------------------------------------------------------------
    def _register(self, spec: NodeSpec) -> None:
        resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": "110"}
        if spec.gpus:
            resources[spec.gpu_resource] = str(spec.gpus)
        body = client.V1Node(
            metadata=client.V1ObjectMeta(
                name=spec.name, labels={"kubernetes.io/hostname": spec.name, "videojob.dev/test-node": "true"}
            ),
        )
        with contextlib.suppress(ApiException):
            self.core.create_node(body)
        status = {
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": self._conditions(),
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "nodeInfo": node_info(),
            }
        }
        self.core.patch_node_status(spec.name, status)

    def _conditions(self) -> list[dict[str, Any]]:
        t = now().isoformat()
        conds = [("Ready", "True", "KubeletReady")] + [
            (c, "False", "KubeletHasSufficient") for c in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ]
        return [
            {"type": c, "status": s, "reason": r, "lastHeartbeatTime": t, "lastTransitionTime": t} for c, s, r in conds
        ]

    def _heartbeat(self) -> None:
        while not self._stop.wait(5):
            for spec in self.nodes:
                try:
                    self.core.patch_node_status(spec.name, {"status": {"conditions": self._conditions()}})
                    self._renew_lease(spec.name)
                except Exception:  # keep beating; one failure must not stop the runner
                    log.exception("heartbeat for %s failed", spec.name)

    def _renew_lease(self, node: str) -> None:
        renew = now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": renew}
        try:
            self.coord.patch_namespaced_lease(node, "kube-node-lease", {"spec": spec})
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            self.coord.create_namespaced_lease("kube-node-lease", body)

    # ---- pods ----------------------------------------------------------------------------------------------
    def _watch_pods(self) -> None:
        names = {n.name for n in self.nodes}
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(self.core.list_pod_for_all_namespaces, timeout_seconds=30):
                    if self._stop.is_set():
                        return
                    pod = event["object"]
                    if pod.spec.node_name in names:
                        self._on_pod(event["type"], pod)
            except Exception:
                if not self._stop.is_set():
                    log.exception("pod watch failed; watching again")
                    time.sleep(1)

    def _on_pod(self, kind: str, pod: client.V1Pod) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}/{pod.metadata.uid}"
        if kind == "DELETED":
            return
        if pod.metadata.deletion_timestamp is not None:
            if key + "#deleting" not in self._seen:
                self._seen.add(key + "#deleting")
                threading.Thread(target=self._terminate, args=(pod, key), daemon=True).start()
            return
        if key in self._seen or pod.status.phase in ("Succeeded", "Failed"):
            return
        self._seen.add(key)
        threading.Thread(target=self._run, args=(pod, key), daemon=True, name=key).start()

    def _run(self, pod: client.V1Pod, key: str) -> None:
        ns, name = pod.metadata.namespace, pod.metadata.name
        container = pod.spec.containers[0]
        try:
            mounts, workdir, message_file = self._prepare(pod)
            env = self._env(pod, container, mounts, message_file)
            argv = (container.command or []) + (container.args or [])
            command = [rewrite(expand(a, env), mounts) for a in argv]
            if not command:
                raise RuntimeError("the pod runner needs an explicit command (images are not pulled)")
            command[0] = executable(command[0])
            cwd = rewrite(container.working_dir, mounts) if container.working_dir else str(workdir)
        except Exception as exc:
            self._finish(pod, 128, f"pod runner could not start the container: {exc}", "ContainerCannotRun")
            return
        logfile = self.log_path(ns, name)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        started = now()
        try:
            with logfile.open("wb") as out:
                proc = subprocess.Popen(
                    command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        except OSError as exc:  # no such executable or working dir: what a runtime reports as StartError
            self._finish(pod, 128, f"pod runner could not start {command[0]!r}: {exc}", "StartError")
            return
        record = Record(ns, name, pod.spec.node_name, container.image, command, env, time.monotonic())
        with self._lock:
            self._procs[key] = proc
            self.records.append(record)
        self._patch_status(
            pod,
            {
                "phase": "Running",
                "startTime": started.isoformat(),
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "conditions": pod_conditions(True),
                "containerStatuses": [container_status(container, running=started)],
            },
        )
        if key + "#deleting" in self._seen:  # deleted while starting: _terminate found no process to stop
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        record.end, record.exit_code = time.monotonic(), (128 + -code if code < 0 else code)
        message = termination_message(message_file, logfile, record.exit_code, container.termination_message_policy)
        self._finish(pod, record.exit_code, message, "Completed" if record.exit_code == 0 else "Error", started)
        with self._lock:  # only now, so that a deletion's final delete comes after the terminal status
            self._procs.pop(key, None)

    def _finish(
        self, pod: client.V1Pod, code: int, message: str, reason: str, started: dt.datetime | None = None
    ) -> None:
        container = pod.spec.containers[0]
        finished = now()
        terminated = {
            "exitCode": code,
            "reason": reason,
            "message": message or None,
            "startedAt": (started or finished).isoformat(),
            "finishedAt": finished.isoformat(),
        }
        self._patch_status(
            pod,
            {
                "phase": "Succeeded" if code == 0 else "Failed",
                "conditions": pod_conditions(False),
                "containerStatuses": [container_status(container, terminated=terminated)],
            },
        )

    def _patch_status(self, pod: client.V1Pod, status: dict[str, Any]) -> None:
        for _ in range(5):
            try:
                self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})
                return
            except ApiException as exc:
                if exc.status == 404:
                    return
                if exc.status != 409:
                    log.warning("status patch of %s failed: %s", pod.metadata.name, exc.reason)
                time.sleep(0.2)
        log.warning("status patch of %s gave up after 5 tries", pod.metadata.name)

    def _terminate(self, pod: client.V1Pod, key: str) -> None:
        base = key
        grace = pod.metadata.deletion_grace_period_seconds or 0
        with self._lock:
            proc = self._procs.get(base)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            self._mark_terminating(pod)
            deadline = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            # _run sees the exit and records the terminal status before the final delete below
            for _ in range(200):
                with self._lock:
                    if base not in self._procs:
                        break
                time.sleep(0.05)
        # kubelet's last word: delete with grace 0. The grace period must be in the body: with a body, the API
        # server ignores the gracePeriodSeconds query parameter and the pod would stay Terminating forever.
        options = client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod.metadata.uid)
        )
        try:
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or a new pod of the same name
                log.warning("final delete of %s failed: %s", pod.metadata.name, exc.reason)

    def _mark_terminating(self, pod: client.V1Pod) -> None:
        with self._lock:
            for record in self.records:
                if (record.namespace, record.name, record.end) == (pod.metadata.namespace, pod.metadata.name, None):
                    record.terminating = time.monotonic()

    # ---- test controls -------------------------------------------------------------------------------------
    def kill(self, namespace: str, name: str) -> None:
        """SIGKILL the pod's process, as the OOM killer or a crash would: the pod fails with exit code 137."""
        self._signal(namespace, name, signal.SIGKILL)

    def pause(self, namespace: str, name: str) -> None:
        """SIGSTOP the pod's process: a hung worker, alive but silent. Deleting the pod still ends it (SIGKILL)."""
        self._signal(namespace, name, signal.SIGSTOP)

    def resume(self, namespace: str, name: str) -> None:
        """SIGCONT a paused pod's process."""
        self._signal(namespace, name, signal.SIGCONT)

    def _signal(self, namespace: str, name: str, sig: signal.Signals) -> None:
        with self._lock:
            procs = [p for k, p in self._procs.items() if k.startswith(f"{namespace}/{name}/")]
        if not procs:
            raise LookupError(f"pod {namespace}/{name} has no running process")
        for proc in procs:
            os.killpg(proc.pid, sig)

    def evict(self, namespace: str, name: str) -> None:
        """Evict through the real Eviction API: the API server adds DisruptionTarget (reason
        EvictionByEvictionAPI) and deletes the pod; the runner then stops it (pod Failed) and finalizes the delete."""
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        self.core.create_namespaced_pod_eviction(name, namespace, body)

    def preempt(self, namespace: str, name: str) -> None:
        """What kube-scheduler does to a preemption victim: a DisruptionTarget condition (reason
        PreemptionByScheduler) in the pod status, then a graceful delete; the runner stops it as for any delete."""
        pod = self.core.read_namespaced_pod(name, namespace)
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": "pod runner: preempted by the test",
            "lastTransitionTime": now().isoformat(),
        }
        self._patch_status(pod, {"conditions": [condition]})
        grace = pod.spec.termination_grace_period_seconds
        options = client.V1DeleteOptions(
            grace_period_seconds=30 if grace is None else grace,
            preconditions=client.V1Preconditions(uid=pod.metadata.uid),
        )
        self.core.delete_namespaced_pod(name, namespace, body=options)

    # ---- helpers ------------------------------------------------------------------------------------------
    def _prepare(self, pod: client.V1Pod) -> tuple[list[tuple[str, str]], Path, Path]:
        root = self.scratch / pod.metadata.namespace / pod.metadata.name
        root.mkdir(parents=True, exist_ok=True)
        volumes: dict[str, Path] = {}
        for v in pod.spec.volumes or []:
            if v.persistent_volume_claim is not None:
                volumes[v.name] = self.claim_path(pod.metadata.namespace, v.persistent_volume_claim.claim_name)
            elif v.empty_dir is not None:
                volumes[v.name] = root / "emptydir" / v.name
                volumes[v.name].mkdir(parents=True, exist_ok=True)
        container = pod.spec.containers[0]
        mounts = []
        for m in container.volume_mounts or []:
            if m.name in volumes:
                local = volumes[m.name] / (m.sub_path or "")
                local.mkdir(parents=True, exist_ok=True)
                mounts.append((m.mount_path.rstrip("/"), str(local)))
        message_file = root / "termination-log"
        message_file.write_bytes(b"")
        mounts.append((container.termination_message_path or "/dev/termination-log", str(message_file)))
        mounts.sort(key=lambda m: -len(m[0]))  # the longest (most specific) prefix wins
        return mounts, root, message_file

    def _env(
        self, pod: client.V1Pod, container: client.V1Container, mounts: list[tuple[str, str]], message_file: Path
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "YOLO_CONFIG_DIR", "TMPDIR")}
        env.update({"HOSTNAME": pod.metadata.name, "YOLO_OFFLINE": "1", "PYTHONSAFEPATH": "1", "PYTHONUNBUFFERED": "1"})
        for e in container.env or []:
            if e.value is not None:
                env[e.name] = rewrite(expand(e.value, env), mounts)
            elif e.value_from is not None and e.value_from.field_ref is not None:
                env[e.name] = field_value(pod, e.value_from.field_ref.field_path)
            elif e.value_from is not None:
                value = self._key_ref(pod.metadata.namespace, e.value_from)
                if value is not None:
                    env[e.name] = value
        return env

    def _key_ref(self, namespace: str, source: client.V1EnvVarSource) -> str | None:
        """A secretKeyRef (read through the API server, base64-decoded) or configMapKeyRef value. A missing
        object or key is None when the ref is `optional`, else an error (kubelet keeps such a pod waiting in
        CreateContainerConfigError; the runner fails it at once with ContainerCannotRun)."""
        ref = source.secret_key_ref or source.config_map_key_ref
        if ref is None:
            raise RuntimeError("env valueFrom: only fieldRef, secretKeyRef and configMapKeyRef are supported")
        kind = "Secret" if source.secret_key_ref is not None else "ConfigMap"
        try:
            if kind == "Secret":
                raw = self.core.read_namespaced_secret(ref.name, namespace).data or {}
                data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
            else:
                data = self.core.read_namespaced_config_map(ref.name, namespace).data or {}
        except ApiException as exc:
            if exc.status != 404:
                raise
            data = None
        if data is not None and ref.key in data:
            return data[ref.key]
        if ref.optional:
            return None
        missing = f"{kind} {ref.name!r}" if data is None else f"key {ref.key!r} in {kind} {ref.name!r}"
        raise RuntimeError(f"{missing} not found")
