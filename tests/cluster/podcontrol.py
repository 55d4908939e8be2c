"""What tests see of and do to pods on the real node.

`PodWatch` keeps a record of every pod the API server reports (also after the pod object is deleted, as an
evicted pod is), so a test can count the runs of one Job index. The strikes act on the container in containerd,
as the kernel or a node agent would: SIGKILL (exit 137, like the OOM killer), freezing its cgroup (pause) and
thawing it; eviction and preemption go through the API like the real actors'.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

log = logging.getLogger("podcontrol")

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass
class PodRun:
    namespace: str
    name: str
    uid: str
    node: str
    image: str
    env: dict[str, str]  # literal values (and JOB_COMPLETION_INDEX)
    secret_refs: dict[str, tuple[str, str]]  # env name -> (Secret, key): kubelet resolves them in the container
    seen: float  # time.monotonic() when the watch first reported it
    start: float | None = None  # when it was first seen running
    end: float | None = None  # when its container was first seen terminated
    exit_code: int | None = None
    terminating: float | None = None  # when its deletion was first seen
    container_id: str = ""
    phase: str = ""
    seen_wall: float = 0.0  # time.time() of `seen`, to compare with the containers' own clocks (the same kernel)
    end_wall: float | None = None

    def update(self, pod: client.V1Pod) -> None:
        now = time.monotonic()
        self.phase = pod.status.phase or ""
        self.node = pod.spec.node_name or self.node
        if pod.metadata.deletion_timestamp is not None and self.terminating is None:
            self.terminating = now
        for cs in pod.status.container_statuses or []:
            self.container_id = (cs.container_id or "").removeprefix("containerd://") or self.container_id
            if cs.state.running is not None and self.start is None:
                self.start = now
            if cs.state.terminated is not None and self.end is None:
                self.start = self.start or now
                self.end = now
                self.end_wall = time.time()
                self.exit_code = cs.state.terminated.exit_code


@dataclass
class PodWatch:
    api: client.ApiClient
    records: list[PodRun] = field(default_factory=list)
    _by_uid: dict[str, PodRun] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, daemon=True, name="podwatch")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _watch(self) -> None:
        core = client.CoreV1Api(self.api)
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(core.list_pod_for_all_namespaces, timeout_seconds=30):
                    if self._stop.is_set():
                        return
                    self._on(event["object"])
            except Exception:
                if not self._stop.is_set():
                    log.exception("pod watch failed; watching again")
                    time.sleep(0.5)

    def _on(self, pod: client.V1Pod) -> None:
        run = self._by_uid.get(pod.metadata.uid)
        if run is None:
            container = pod.spec.containers[0]
            env = {e.name: e.value for e in container.env or [] if e.value is not None}
            refs = {
                e.name: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
                for e in container.env or []
                if e.value_from is not None and e.value_from.secret_key_ref is not None
            }
            index = (pod.metadata.annotations or {}).get(INDEX_ANNOTATION)
            if index is not None:
                env["JOB_COMPLETION_INDEX"] = index
            run = PodRun(
                pod.metadata.namespace,
                pod.metadata.name,
                pod.metadata.uid,
                pod.spec.node_name or "",
                container.image,
                env,
                refs,
                seen=time.monotonic(),
                seen_wall=time.time(),
            )
            self._by_uid[run.uid] = run
            self.records.append(run)
        run.update(pod)

    def find(self, namespace: str, name: str, wait: float = 5.0) -> PodRun:
        deadline = time.monotonic() + wait
        while True:
            for run in reversed(self.records):
                if run.namespace == namespace and run.name == name:
                    return run
            if time.monotonic() > deadline:
                raise LookupError(f"no pod {namespace}/{name} seen")
            time.sleep(0.02)


@dataclass
class PodControl:
    """Strikes on the containers of one node (`ctr` runs the node's containerd client inside its namespaces)."""

    api: client.ApiClient
    pods: PodWatch
    ctr: Callable[..., Any]

    @property
    def records(self) -> list[PodRun]:
        return self.pods.records

    def _container_id(self, namespace: str, name: str) -> str:
        """The pod's container, from the watch or, before the watch has reported it, from containerd's labels."""
        run = self.pods.find(namespace, name)
        if run.end is not None:
            raise LookupError(f"pod {namespace}/{name} has ended")
        if run.container_id:
            return run.container_id
        labels = f'labels."io.kubernetes.pod.namespace"=={namespace},labels."io.kubernetes.pod.name"=={name}'
        out = self.ctr("containers", "ls", "-q", labels + ',labels."io.cri-containerd.kind"==container', check=False)
        ids = out.stdout.split()
        return ids[0] if ids else ""

    def _task(self, namespace: str, name: str, *args: str, wait: float = 30.0) -> None:
        """`ctr tasks ARGS` on the pod's container, waiting up to `wait` s for it to run (a pod just created is
        still starting); LookupError when it has ended (or never ran in time)."""
        deadline = time.monotonic() + wait
        while True:
            cid = self._container_id(namespace, name)  # LookupError once it has ended
            if cid:
                result = self.ctr("tasks", *args, cid, check=False)
                if result.returncode == 0:
                    return
                error = result.stderr.strip()
            else:
                error = "no container yet"
            if time.monotonic() > deadline:
                raise LookupError(f"ctr tasks {' '.join(args)} {namespace}/{name}: {error}")
            time.sleep(0.02)

    def wait_running(self, namespace: str, name: str, wait: float = 30.0) -> None:
        """Until the pod's container runs in containerd (LookupError when it ended first, or never ran in time)."""
        deadline = time.monotonic() + wait
        while True:
            cid = self._container_id(namespace, name)
            tasks = self.ctr("tasks", "ls", check=False).stdout.splitlines() if cid else []
            if any(line.split()[:1] == [cid] and "RUNNING" in line for line in tasks):
                return
            if time.monotonic() > deadline:
                raise LookupError(f"pod {namespace}/{name} did not run in {wait:.0f}s")
            time.sleep(0.02)

    def wait_killing(self, namespace: str, name: str, timeout: float = 30.0) -> None:
        """Until kubelet has begun to stop the pod's container (its `Killing` event; the SIGTERM follows), or
        the container has ended anyway."""
        core = client.CoreV1Api(self.api)
        selector = f"involvedObject.name={name},reason=Killing"
        deadline = time.monotonic() + timeout
        run = self.pods.find(namespace, name)
        while not core.list_namespaced_event(namespace, field_selector=selector).items:
            if run.end is not None:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"kubelet did not begin to stop {namespace}/{name} in {timeout:.0f}s")
            time.sleep(0.05)
        time.sleep(0.3)  # the event is recorded just before the runtime's StopContainer call

    def kill(self, namespace: str, name: str) -> None:
        """SIGKILL to the container's processes: exit 137, as the OOM killer would."""
        self._task(namespace, name, "kill", "--signal", "SIGKILL", "--all")

    def pause(self, namespace: str, name: str) -> None:
        """Freeze the container's cgroup: the process stops where it is, signals wait until it thaws."""
        self._task(namespace, name, "pause")

    def resume(self, namespace: str, name: str) -> None:
        self._task(namespace, name, "resume")

    def evict(self, namespace: str, name: str) -> None:
        """The Eviction API: the API server adds DisruptionTarget (EvictionByEvictionAPI) and deletes the pod;
        kubelet stops the container with SIGTERM and its grace period. Struck once its container runs."""
        self.wait_running(namespace, name)
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        client.CoreV1Api(self.api).create_namespaced_pod_eviction(name, namespace, body)
        self.wait_killing(namespace, name)

    def preempt(self, namespace: str, name: str) -> None:
        """What kube-scheduler does to a preemption victim: a DisruptionTarget condition (reason
        PreemptionByScheduler) on the pod's status, then a graceful delete. Struck once its container runs."""
        self.wait_running(namespace, name)
        core = client.CoreV1Api(self.api)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": "videojob-test: preempted by a higher-priority pod",
            "lastTransitionTime": now,
        }
        core.patch_namespaced_pod_status(name, namespace, {"status": {"conditions": [condition]}})
        core.delete_namespaced_pod(name, namespace)
        self.wait_killing(namespace, name)
