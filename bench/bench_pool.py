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

    .venv/bin/python bench/bench_pool.py [--seconds 60] [--segments 40] [--parallel 2] [--width 320 --height 180]

Needs what `make test` builds (control plane, node binaries, the operator and slim worker images). No GPU: the
workers take their CPU paths, with fixed regions (no model: model load here is the detector's setup only; a YOLO
model adds its 3-6 s per pod in pod-per-segment mode, once per worker in pool mode).
"""

from __future__ import annotations

import argparse
import json
import sys
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


def run_job(kube: KubeCluster, ns: str, name: str, args: argparse.Namespace, mode: str) -> dict[str, Any]:
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
    t0 = time.time()
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump({**doc, "spec": spec}))

    def done() -> dict[str, Any] | None:
        out = kube.kubectl("get", "videojob", name, "-n", ns, "-o", "json").stdout
        status = json.loads(out).get("status") or {}
        if status.get("phase") == "Failed":
            raise RuntimeError(f"{name} failed: {status.get('message')}")
        return status if status.get("phase") == "Succeeded" else None

    status = kube.wait_for(f"{name} to succeed", done, timeout=1800, interval=0.5)
    return {"wall": round(time.time() - t0, 3), "process_stage": (status.get("stageSeconds") or {}).get("process")}


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
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
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
    print(
        json.dumps(
            {
                "clip": {"width": args.width, "height": args.height, "frames": frames, "fps": 24},
                "segments": args.segments,
                "max_parallel_pods": args.parallel,
                "detector": "static",
                "modes": modes,
                "pool_over_pod_per_segment_wall": round(modes["pool"]["wall"] / modes["pod-per-segment"]["wall"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
