"""Scale figures of VideoJobs run on the real node (bench/bench_scale.py and tests/operator/test_scale_small.py):
the operator's CPU (its process group's /proc stat), its API requests (the API server's audit log), the objects
the API server stores, and each stage hand-off, timed from the pod watch's sight of a stage's end to the
operator's request that acts on it (both on this machine's clock)."""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .audit import Request, requests
from .fixtures import KubeCluster

OPERATOR_USER = "system:serviceaccount:videojob-system:videojob-operator"
_TICK = os.sysconf("SC_CLK_TCK")
JOB_LABEL = "videojob.dev/job"  # on every child (operator/naming.py labels)


def cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in the process group (kopf's threads are inside its process)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def wait_succeeded(kube: KubeCluster, namespace: str, names: list[str], timeout: float) -> float:
    """Polls (as admin: not counted against the operator) until every VideoJob has Succeeded; a Failed one raises."""
    deadline = time.monotonic() + timeout
    left = set(names)
    while left:
        out = kube.kubectl("get", "videojobs", "-n", namespace, "-o", "json").stdout
        for item in json.loads(out)["items"]:
            phase = (item.get("status") or {}).get("phase")
            if phase == "Failed":
                raise AssertionError(f"{item['metadata']['name']} failed: {item['status'].get('message')}")
            if phase == "Succeeded":
                left.discard(item["metadata"]["name"])
        if left and time.monotonic() > deadline:
            raise AssertionError(f"{len(left)} VideoJobs not done after {timeout:.0f}s, e.g. {sorted(left)[:3]}")
        if left:
            time.sleep(1.0)  # kubectl's own CPU would weigh on the 2-core node
    return time.time()


def _first(reqs: list[Request], verb: str, resource: str, name: str) -> float | None:
    """When the operator first made this request (a child's create: there is one)."""
    hits = [r.at for r in reqs if r.verb == verb and r.resource == resource and r.name == name]
    return min(hits) if hits else None


def _last(reqs: list[Request], verb: str, resource: str, name: str) -> float | None:
    """When the operator last made this request (its last status write: the one that ends the job)."""
    hits = [r.at for r in reqs if r.verb == verb and r.resource == resource and r.name == name]
    return max(hits) if hits else None


@dataclass
class Handoffs:
    """Seconds from a stage's end (pod watch) to the operator's request that moves the job on (audit log). The
    operator and the test's pod watch see the same watch event, so the operator may act before the test has
    looked: a value a few milliseconds below zero is that race, not an early start."""

    detect_to_segments: float | None
    segments_to_finalize: float | None
    finalize_to_succeeded: float | None
    processing: tuple[float, float] | None  # segments Job created -> finalize Job created (unix seconds)
    steady: tuple[float, float] | None  # every segment pod of the job running -> the first one ends

    def values(self) -> list[float]:
        got = (self.detect_to_segments, self.segments_to_finalize, self.finalize_to_succeeded)
        return [v for v in got if v is not None]


def handoffs(kube: KubeCluster, namespace: str, name: str, reqs: list[Request]) -> Handoffs:
    runs = [r for r in kube.control.records if r.namespace == namespace and r.name.startswith(f"{name}-")]

    def stage(s: str) -> list[Any]:
        return [r for r in runs if r.name.startswith(f"{name}-{s}-") and r.exit_code == 0 and r.end_wall]

    detect, segments, finalize = stage("detect"), stage("segments"), stage("finalize")
    out = Handoffs(None, None, None, None, None)
    seg_created = fin_created = None
    if detect:
        end = max(r.end_wall for r in detect)
        seg_created = _first(reqs, "create", "jobs", f"{name}-segments")
        out.detect_to_segments = None if seg_created is None else seg_created - end
    if segments:
        end = max(r.end_wall for r in segments)
        fin_created = _first(reqs, "create", "jobs", f"{name}-finalize")
        out.segments_to_finalize = None if fin_created is None else fin_created - end
        # When all of the job's segment pods run at once (2 segments, enough parallelism): nothing changes until
        # the first one ends, so the operator has nothing to do there.
        started = [r.start for r in segments]
        if all(started):
            running = max(r.seen_wall + (r.start - r.seen) for r in segments)
            out.steady = (running + 1.0, min(r.end_wall for r in segments))
    if finalize:
        end = max(r.end_wall for r in finalize)
        done = _last(reqs, "patch", "videojobs/status", name)
        out.finalize_to_succeeded = None if done is None else done - end
    if seg_created is not None and fin_created is not None:
        out.processing = (seg_created, fin_created)
    return out


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _mine(r: Request, name: str) -> bool:
    """The request names the job or one of its children, or lists by the job's label (its pods)."""
    if r.name:
        return r.name == name or r.name.startswith(f"{name}-")
    selector = parse_qs(urlparse(r.uri).query).get("labelSelector", [""])[0]
    return f"{JOB_LABEL}={name}" in selector.split(",")


def request_rate(reqs: list[Request], windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The operator's requests (not watches) naming each job or its children inside that job's window, per job
    per 10 s, with the reads (get, list) apart: a polling operator reads on every tick."""
    windows = {n: (a, b) for n, (a, b) in windows.items() if b > a}
    seconds = sum(b - a for a, b in windows.values())
    inside = [r for r in reqs if r.verb != "watch" for n, (a, b) in windows.items() if a <= r.at < b and _mine(r, n)]
    reads = [r for r in inside if r.verb in ("get", "list")]
    if seconds <= 0:
        return {"job_seconds": 0.0, "requests": len(inside)}
    per10 = 10.0 / seconds
    return {
        "job_seconds": round(seconds, 1),
        "requests": len(inside),
        "reads": len(reads),
        "requests_per_job_per_10s": round(len(inside) * per10, 3),
        "reads_per_job_per_10s": round(len(reads) * per10, 3),
        "by_verb": dict(Counter(f"{r.verb} {r.resource}" for r in inside).most_common()),
    }


def stored_objects(kube: KubeCluster, namespace: str) -> dict[str, Any]:
    """What etcd holds: the API server's apiserver_storage_objects for the kinds a VideoJob makes, and a count
    of this namespace's objects by kind."""
    metrics = kube.kubectl("get", "--raw", "/metrics").stdout
    wanted = ("pods", "jobs.batch", "events", "videojobs.videojob.dev", "leases.coordination.k8s.io")
    storage: dict[str, int] = {}
    total = 0
    for line in metrics.splitlines():
        if line.startswith(("apiserver_storage_objects{", "apiserver_resource_objects{")):
            labels, value = line.rsplit(" ", 1)
            resource = labels.split('resource="', 1)[1].split('"', 1)[0]
            if line.startswith("apiserver_storage_objects"):
                total += int(float(value))
            if resource in wanted:
                storage[resource] = int(float(value))
    counts = {}
    for kind in ("pods", "jobs", "events", "videojobs"):
        out = kube.kubectl("get", kind, "-n", namespace, "-o", "name").stdout
        counts[kind] = len(out.split())
    return {"apiserver_storage_objects": storage, "apiserver_storage_objects_total": total, "namespace": counts}


def operator_requests(kube: KubeCluster, since: float, until: float, namespace: str) -> list[Request]:
    return [r for r in requests(kube.plane.audit_log, OPERATOR_USER, since, until) if r.namespace in (namespace, "")]


def summary(
    kube: KubeCluster, namespace: str, names: list[str], since: float, until: float, cpu: float
) -> dict[str, Any]:
    """The figures of one run of `names`, from `since` (first apply) to `until` (last Succeeded seen)."""
    time.sleep(1.5)  # the audit log's batch reaches the file
    reqs = operator_requests(kube, since, until + 1.0, namespace)
    hand = {n: handoffs(kube, namespace, n, reqs) for n in names}
    every = [v for h in hand.values() for v in h.values()]
    wall = until - since
    stages = {
        k: [getattr(h, k) for h in hand.values() if getattr(h, k) is not None]
        for k in ("detect_to_segments", "segments_to_finalize", "finalize_to_succeeded")
    }
    in_run = [r for r in reqs if r.at <= until]
    return {
        "jobs": len(names),
        "wall_seconds": round(wall, 2),
        "operator_cpu_seconds": round(cpu, 2),
        "operator_cpu_fraction_of_core": round(cpu / wall, 4),
        "api_requests": {
            "total": len(in_run),
            "by_verb": dict(Counter(f"{r.verb} {r.resource}" for r in in_run).most_common()),
        },
        "handoff_seconds": {
            "count": len(every),
            "p95": _round(p95(every)),
            "max": _round(max(every, default=None)),
            "median": _round(statistics.median(every) if every else None),
            **{f"{k}_p95": _round(p95(v)) for k, v in stages.items()},
            "missing": 3 * len(names) - len(every),
        },
        "processing": request_rate(reqs, {n: h.processing for n, h in hand.items() if h.processing}),
        "steady_processing": request_rate(reqs, {n: h.steady for n, h in hand.items() if h.steady}),
        "stored_objects": stored_objects(kube, namespace),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
