"""Kueue's real controller (tests/cluster/kueue.py, built from the Go module proxy) queues VideoJobs for GPUs.

A ClusterQueue of one nvidia.com/gpu (the node advertises two, so the node alone would run both at once): first
two plain batch/v1 Jobs show that Kueue's wiring works by itself (its webhook suspends a queued Job at creation,
its scheduler admits one Job at a time). Then two VideoJobs labelled with the LocalQueue, each segment pod asking
one GPU, applied together: Kueue admits the second one's segment Job only after the first one's finished.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from cluster.fixtures import WORKER_SLIM_IMAGE, KubeCluster
from cluster.kueue import QUEUE_LABEL, Kueue, condition_time, running_kueue
from kubernetes import client
from videojob.operator.naming import child_name
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

GPU = "nvidia.com/gpu"
# cpu and memory far above what the tests ask: the GPU is the only resource that can make a workload wait.
QUOTA = {"cpu": "16", "memory": "64Gi", GPU: "1"}
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.fixture(scope="module")
def kueue(kube: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kueue]:
    with running_kueue(kube, tmp_path_factory.mktemp("kueue")) as running:
        yield running


@pytest.fixture
def gpu_queue(kueue: Kueue, namespace: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A LocalQueue in the test namespace onto a ClusterQueue of QUOTA (one GPU); its name."""
    name = namespace  # ClusterQueue and ResourceFlavor are cluster-scoped: one per test namespace
    kueue.create_queues(name, namespace, QUOTA)
    yield name
    kueue.delete_queues(name, namespace)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"---- kueue log ----\n{kueue.logs()[-6000:]}")


@dataclass
class Seen:
    """What the sampler saw of one Workload: its last state, and when it was first seen admitted and finished."""

    workload: dict[str, Any]
    pending_messages: set[str] = field(default_factory=set)


@dataclass
class QueueSampler:
    """Polls the namespace's Workloads while a test runs: Kueue's record of a Job goes with the Job (owner
    reference), and a finished Job may be removed (TTL) before the test looks."""

    kueue: Kueue
    namespace: str
    seen: dict[str, Seen] = field(default_factory=dict)  # by owning Job's name
    # (job admitted, job pending) pairs seen at one instant: the first was holding the quota the second waited for
    overlaps: set[tuple[str, str]] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def __enter__(self) -> QueueSampler:
        self._thread = threading.Thread(target=self._run, daemon=True, name="kueue-sampler")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._sample(self.kueue.workloads(self.namespace))
                self._stop.wait(0.25)
        except BaseException as exc:  # surfaced in __exit__
            self.error = exc

    def _sample(self, workloads: list[dict[str, Any]]) -> None:
        admitted, pending = [], []
        for wl in workloads:
            job = next((o["name"] for o in wl["metadata"].get("ownerReferences") or [] if o["kind"] == "Job"), None)
            if job is None:
                continue
            entry = self.seen.setdefault(job, Seen(wl))
            entry.workload = wl
            if condition_time(wl, "Finished"):
                continue
            if condition_time(wl, "Admitted"):
                admitted.append(job)
            else:
                pending.append(job)
                for c in (wl.get("status") or {}).get("conditions") or []:
                    if c["type"] == "QuotaReserved" and c["status"] == "False":
                        entry.pending_messages.add(c.get("message", ""))
        self.overlaps |= {(a, p) for a in admitted for p in pending}

    def workload(self, job: str) -> dict[str, Any]:
        assert job in self.seen, f"Kueue made no Workload for Job {job}; saw {sorted(self.seen)}"
        return self.seen[job].workload


def _plain_job(name: str, queue: str, seconds: float) -> dict[str, Any]:
    """A one-pod Job asking one GPU, in the queue, created unsuspended: Kueue's webhook must suspend it."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue}},
        "spec": {
            "suspend": False,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": RESTRICTED_POD,
                    "containers": [
                        {
                            "name": "main",
                            "image": WORKER_SLIM_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", f"import time; time.sleep({seconds})"],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi", GPU: "1"},
                                "limits": {"memory": "64Mi", GPU: "1"},
                            },
                            "securityContext": RESTRICTED_CONTAINER,
                        }
                    ],
                }
            },
        },
    }


def _runs(kube: KubeCluster, namespace: str, job: str) -> list[Any]:
    """The pod watch's records of one Job's pods (the Job controller names them `<job>-...`)."""
    return [r for r in kube.control.records if r.namespace == namespace and r.name.startswith(f"{job}-")]


def _assert_one_after_the_other(
    kube: KubeCluster, namespace: str, sampler: QueueSampler, first: str, second: str
) -> None:
    """`second`'s Workload was admitted only once `first`'s had finished, and its pods came after `first`'s ended;
    while `first` held the GPU, `second` was seen waiting for it."""
    wl_first, wl_second = sampler.workload(first), sampler.workload(second)
    for job, wl in ((first, wl_first), (second, wl_second)):
        times = {k: condition_time(wl, k) for k in ("QuotaReserved", "Admitted", "Finished")}
        print(f"{job}: created {wl['metadata']['creationTimestamp']} {times}")
    finished = condition_time(wl_first, "Finished")
    admitted = condition_time(wl_second, "Admitted")
    assert finished is not None, f"{first}'s Workload never finished: {wl_first.get('status')}"
    assert admitted is not None, f"{second}'s Workload was never admitted: {wl_second.get('status')}"
    assert admitted >= finished, f"{second} admitted at {admitted}, before {first} finished at {finished}"
    assert (first, second) in sampler.overlaps, (
        f"{second} was never seen waiting while {first} held the GPU (seen: {sorted(sampler.overlaps)})"
    )
    waits = sampler.seen[second].pending_messages
    assert any(GPU in m for m in waits), f"{second} waited, but not for {GPU}: {waits}"
    runs_first, runs_second = _runs(kube, namespace, first), _runs(kube, namespace, second)
    assert runs_first and runs_second, f"pods: {first} {len(runs_first)}, {second} {len(runs_second)}"
    assert all(r.end is not None for r in runs_first)
    last_end = max(r.end for r in runs_first if r.end is not None)
    first_pod = min(r.seen for r in runs_second)
    assert first_pod > last_end, f"a pod of {second} appeared {last_end - first_pod:.2f}s before {first}'s ended"


def test_kueue_admits_queued_jobs_one_gpu_at_a_time(kube, kueue, gpu_queue, namespace) -> None:
    """Kueue alone, no operator: its webhook suspends a labelled Job at creation, its scheduler admits the first
    and un-suspends it, and holds the second until the first's GPU is free."""
    batch = client.BatchV1Api(kube.api_client())
    with QueueSampler(kueue, namespace) as sampler:
        created = [batch.create_namespaced_job(namespace, _plain_job(n, gpu_queue, 4)) for n in ("gpu-a", "gpu-b")]
        assert [j.spec.suspend for j in created] == [True, True], "Kueue's webhook did not suspend the new Jobs"

        def finished() -> bool:
            jobs = [batch.read_namespaced_job(n, namespace) for n in ("gpu-a", "gpu-b")]
            return all((j.status.succeeded or 0) == 1 for j in jobs)

        kube.wait_for("both Jobs to succeed", finished, timeout=120)
        kube.wait_for(
            "both Workloads finished",
            lambda: all(condition_time(sampler.seen.get(n, Seen({})).workload, "Finished") for n in ("gpu-a", "gpu-b")),
            timeout=30,
        )
    # Which one Kueue took first is its choice (same priority, created the same second): order by admission.
    a, b = sorted(("gpu-a", "gpu-b"), key=lambda n: condition_time(sampler.workload(n), "Admitted") or "")
    if (a, b) not in sampler.overlaps:
        a, b = b, a
    _assert_one_after_the_other(kube, namespace, sampler, a, b)


def _apply_labelled(kube: KubeCluster, namespace: str, name: str, spec: dict[str, Any], queue: str) -> None:
    doc = {
        "apiVersion": "videojob.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name, "namespace": namespace, "labels": {QUEUE_LABEL: queue}},
        "spec": spec,
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))


def test_two_videojobs_share_one_gpu_through_kueue(kube, kueue, gpu_queue, operator, videojobs, namespace) -> None:
    """Two VideoJobs in the queue, applied at once, each segment pod asking one GPU with one pod at a time:
    Kueue runs their segment Jobs one after the other, and both outputs are whole."""
    videojobs.clip(frames=96)
    names = ("vj-a", "vj-b")
    with QueueSampler(kueue, namespace) as s:
        for name in names:
            spec = videojobs.spec(out=f"out/{name}.mp4", segments=4, maxParallelPods=1)
            spec["resources"]["gpusPerPod"] = 1
            _apply_labelled(kube, namespace, name, spec, gpu_queue)
        for name in names:
            videojobs.wait_phase(name, "Succeeded", timeout=300)
    for name in names:
        assert probe(videojobs.volume / "out" / f"{name}.mp4").frames == 96
        job = videojobs.job(name)
        if job is not None:  # not yet removed by its TTL
            assert job["metadata"]["labels"].get(QUEUE_LABEL) == gpu_queue
    jobs = [child_name(n, "segments") for n in names]
    for job in jobs:
        wl = s.workload(job)
        assert wl["spec"]["queueName"] == gpu_queue
    a, b = sorted(jobs, key=lambda j: condition_time(s.workload(j), "Admitted") or "~")
    if (a, b) not in s.overlaps:
        a, b = b, a
    _assert_one_after_the_other(kube, namespace, s, a, b)
