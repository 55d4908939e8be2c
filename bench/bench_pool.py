"""Warm workers against one pod per segment on the real test node, printed as JSON: the same clip (a minute or
more, many short segments) as two VideoJobs, segmentation.mode pod-per-segment and pool, in one invocation.

Per mode, over all the segment Job's pods, from the API watch (pod first seen) and the termination messages
(`timings`, `seconds`; docs/contracts.md):
  * `overhead_seconds`: orchestration, as the issue defines it: pod start (first seen -> the process started:
    containerd, runc, CNI, kubelet), interpreter and imports, and model load, summed over pods;
  * `compute_seconds`: segment compute summed (decode, detect, encode, check: `seconds`);
  * `overhead_fraction`: overhead / compute (the issue's target: <= 0.10 for a video of a minute or more);
  * `other_seconds`: the rest of the pods' lives (first seen -> `timings.end`, less overhead and compute): per
    segment set-up outside `seconds`, and in pool mode the wait of a worker whose last segments others hold;
  * the parts: container start, imports, and (pool) model load, summed; the VideoJob's wall and process stage.

And one node at half speed (the issue's target: it delays the job by at most one segment's time): pool mode once
more with each worker's pod capped by its CPU cgroup (cpu.cfs_quota_us, written here as root on this node, gone
with the pod), slot 0 at one core and slot 1 at half a core, after a run with both at one core:
  * `tail_seconds`: how long the worker that ran out of segments first waited for the other's last one
    (`timings.last_segment` of each); at most one segment of the slow worker (`slow_segment_seconds`) is the target;
  * `process_over_equal`: the process stage against the run at equal speeds; perfect balance would be
    `ideal_over_equal` (the summed rates' ratio, from each worker's measured segments per compute second).

    .venv/bin/python bench/bench_pool.py [--seconds 60] [--segments 40] [--parallel 2] [--width 1280 --height 720]
                                         [--no-half-speed]

Needs what `make test` builds (control plane, node binaries, the operator and slim worker images). No GPU: the
workers take their CPU paths, with fixed regions (no model: model load here is the detector's setup only; a YOLO
model adds its 3-6 s per pod in pod-per-segment mode, once per worker in pool mode).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import yaml  # noqa: E402
from bench_node import REGION, namespace  # noqa: E402
from cluster.chart import install_chart  # noqa: E402
from cluster.fixtures import KubeCluster, start_cluster  # noqa: E402
from kubernetes import client  # noqa: E402
from support.media import make_clip  # noqa: E402

INDEX = "batch.kubernetes.io/job-completion-index"


class CpuCaps(threading.Thread):
    """Caps each segment pod's CPU by its slot (completion index) once the pod exists: its pod-level cgroup's CFS
    quota, as a slower node would run it. The cgroup goes with the pod: nothing on the host to restore."""

    def __init__(self, kube: KubeCluster, ns: str, name: str, cores: dict[int, float]) -> None:
        super().__init__(daemon=True)
        self.kube, self.ns, self.name, self.cores = kube, ns, name, cores
        self.capped: dict[str, float] = {}  # pod name -> cores
        self.stop = threading.Event()

    def run(self) -> None:
        core = client.CoreV1Api(self.kube.api_client())
        selector = f"videojob.dev/job={self.name},videojob.dev/stage=segment"
        while not self.stop.wait(0.2):
            for pod in core.list_namespaced_pod(self.ns, label_selector=selector).items:
                slot = int((pod.metadata.annotations or {}).get(INDEX, -1))
                if pod.metadata.name in self.capped or slot not in self.cores:
                    continue
                found = list(Path("/sys/fs/cgroup/cpu").glob(f"videojob-*/kubepods/**/pod{pod.metadata.uid}"))
                if found:
                    (found[0] / "cpu.cfs_period_us").write_text("100000")
                    (found[0] / "cpu.cfs_quota_us").write_text(str(int(100000 * self.cores[slot])))
                    self.capped[pod.metadata.name] = self.cores[slot]


def run_job(
    kube: KubeCluster, ns: str, name: str, args: argparse.Namespace, mode: str, cores: dict[int, float] | None = None
) -> dict[str, Any]:
    spec = {
        "input": {"claimName": "media", "path": "in/clip.mp4"},
        "output": {"path": f"out/{name}.mp4"},
        "detector": {"kind": "static", "padding": 0, "regions": [REGION]},
        "operation": {"kind": "blur"},
        "segmentation": {"segments": args.segments, "minFramesPerSegment": 4, "mode": mode},
        "encode": {"encoder": "software"},
        "maxParallelPods": args.parallel,
        "resources": {"cpu": "250m", "memory": "1Gi"},
    }
    doc = {"apiVersion": "videojob.dev/v1alpha1", "kind": "VideoJob", "metadata": {"name": name, "namespace": ns}}
    caps = CpuCaps(kube, ns, name, cores) if cores else None
    if caps is not None:
        caps.start()
    t0 = time.time()
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump({**doc, "spec": spec}))

    def done() -> dict[str, Any] | None:
        out = kube.kubectl("get", "videojob", name, "-n", ns, "-o", "json").stdout
        status = json.loads(out).get("status") or {}
        if status.get("phase") == "Failed":
            raise RuntimeError(f"{name} failed: {status.get('message')}")
        return status if status.get("phase") == "Succeeded" else None

    status = kube.wait_for(f"{name} to succeed", done, timeout=1800, interval=0.5)
    wall = round(time.time() - t0, 3)
    if caps is not None:
        caps.stop.set()
        caps.join()
        if len(caps.capped) < len(cores or {}):
            raise RuntimeError(f"{name}: not every slot's pod was capped: {caps.capped}")
    return {"wall": wall, "process_stage": (status.get("stageSeconds") or {}).get("process")}


def workers(kube: KubeCluster, ns: str, name: str) -> list[dict[str, Any]]:
    """Each pool worker's termination message, with its slot."""
    core = client.CoreV1Api(kube.api_client())
    found = []
    for pod in core.list_namespaced_pod(ns, label_selector=f"videojob.dev/job={name},videojob.dev/stage=segment").items:
        term = pod.status.container_statuses[0].state.terminated
        if term is not None and term.message:
            found.append(json.loads(term.message))
    return sorted(found, key=lambda m: m["slot"])


def half_speed(kube: KubeCluster, ns: str, args: argparse.Namespace) -> dict[str, Any]:
    """Pool mode with both workers at one core, then slot 1 at half a core (see the module's doc)."""
    equal = run_job(kube, ns, "bench-equal", args, "pool", {0: 1.0, 1: 1.0})
    half = run_job(kube, ns, "bench-half", args, "pool", {0: 1.0, 1: 0.5})
    msgs = workers(kube, ns, "bench-half")
    rates = [m["segments"] / m["seconds"] for m in msgs if m["seconds"]]
    ends = [m["timings"]["last_segment"] for m in msgs if "last_segment" in m["timings"]]
    slow = min(msgs, key=lambda m: m["segments"] / m["seconds"] if m["seconds"] else 0.0)
    eq = workers(kube, ns, "bench-equal")
    eq_rate = sum(m["segments"] / m["seconds"] for m in eq if m["seconds"])
    tail = max(ends) - min(ends) if len(ends) == len(msgs) else None
    slow_segment = slow["seconds"] / slow["segments"] if slow["segments"] else None
    return {
        "equal": {**equal, "segments_per_worker": [m["segments"] for m in eq]},
        "half": {
            **half,
            "segments_per_worker": [m["segments"] for m in msgs],
            "segments_per_compute_second": [round(r, 3) for r in rates],
        },
        "tail_seconds": None if tail is None else round(tail, 2),
        "slow_segment_seconds": None if slow_segment is None else round(slow_segment, 2),
        "tail_within_one_segment": None if tail is None or slow_segment is None else tail <= slow_segment,
        "process_over_equal": round(half["process_stage"] / equal["process_stage"], 3),
        "ideal_over_equal": round(eq_rate / sum(rates), 3) if rates else None,
    }


def overhead(kube: KubeCluster, ns: str, name: str) -> dict[str, Any]:
    core = client.CoreV1Api(kube.api_client())
    seen = {r.uid: r.seen_wall for r in kube.control.records if r.namespace == ns and r.name.startswith(f"{name}-")}
    parts = {"overhead": 0.0, "compute": 0.0, "other": 0.0, "container_start": 0.0, "imports": 0.0, "model_load": 0.0}
    pods = 0
    for pod in core.list_namespaced_pod(ns, label_selector=f"videojob.dev/job={name},videojob.dev/stage=segment").items:
        term = pod.status.container_statuses[0].state.terminated
        if term is None or not term.message or pod.metadata.uid not in seen:
            continue
        msg = json.loads(term.message)
        t, first = msg["timings"], seen[pod.metadata.uid]
        pods += 1
        start, imports, model = t["process"] - first, t["stage"] - t["process"], t.get("model", t["stage"]) - t["stage"]
        parts["compute"] += msg["seconds"]
        parts["container_start"] += start
        parts["imports"] += imports
        parts["model_load"] += model
        parts["overhead"] += start + imports + model
        parts["other"] += (t["end"] - first) - (start + imports + model) - msg["seconds"]
    return {
        "pods": pods,
        **{f"{k}_seconds": round(v, 2) for k, v in parts.items()},
        "overhead_fraction": round(parts["overhead"] / parts["compute"], 3) if parts["compute"] else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--segments", type=int, default=40)
    ap.add_argument("--parallel", type=int, default=2, help="maxParallelPods")
    # 720p: at 320x180 a minute of video is 5 s of compute on two cores, and any fixed cost looks large.
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--no-half-speed", action="store_true", help="skip the run with one worker at half speed")
    args = ap.parse_args()
    with start_cluster() as kube:
        kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
        ns = namespace(kube)
        volume = kube.create_claim(ns, "media")
        frames = int(args.seconds * 24)
        (volume / "in").mkdir()
        make_clip(volume / "in" / "clip.mp4", args.width, args.height, frames=frames, fps=24)
        install_chart(kube, ns, "vj", operator={"resyncSeconds": 10})
        modes = {}
        for mode in ("pod-per-segment", "pool"):
            name = f"bench-{mode.replace('-', '')}"
            job = run_job(kube, ns, name, args, mode)
            modes[mode] = {**job, **overhead(kube, ns, name)}
            print(json.dumps({mode: modes[mode]}), file=sys.stderr, flush=True)
        slow = None if args.no_half_speed or args.parallel != 2 else half_speed(kube, ns, args)
    print(
        json.dumps(
            {
                "clip": {"width": args.width, "height": args.height, "frames": frames, "fps": 24},
                "segments": args.segments,
                "max_parallel_pods": args.parallel,
                "detector": "static",
                "modes": modes,
                "pool_over_pod_per_segment_wall": round(modes["pool"]["wall"] / modes["pod-per-segment"]["wall"], 3),
                "one_worker_at_half_speed": slow,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
