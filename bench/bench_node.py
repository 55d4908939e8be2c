"""The product on the real test node, printed as JSON: one VideoJob through `helm install`ed operator and pods in
containers, against `videojob run` of the same clip with the same segments, in one invocation.

Per stage (detect, segments, finalize), from the pods' own clocks (the worker's termination message `timings`,
see docs/contracts.md) and the API watch (the same kernel clock):
  * `container_start`: pod created (watch) -> the worker process started (containerd, runc, CNI, kubelet);
  * `imports`: process start -> the stage begins (interpreter and imports; model load is inside the stage);
  * `first_frames`: stage begin -> the first 10 frames written (segments only).
Stage transitions: a stage's last container seen terminated -> the next stage's first pod seen created, and the
finalize pod's end -> the VideoJob seen Succeeded. Wall: `kubectl apply` -> Succeeded, against `videojob run`
(process start to exit), best of --repeat each.

    .venv/bin/python bench/bench_node.py [--seconds 10] [--segments 4] [--repeat 2] [--resync 5]

Needs what `make test` builds (control plane, node binaries, images). No GPU: the node's nvidia.com/gpu is an
advertised extended resource, the workers take their CPU paths.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import yaml  # noqa: E402
from cluster.chart import install_chart  # noqa: E402
from cluster.fixtures import KubeCluster, start_cluster  # noqa: E402
from cluster.podcontrol import PodRun  # noqa: E402
from kubernetes import client  # noqa: E402
from support.media import make_clip  # noqa: E402

REGION = {"left": 0.25, "top": 0.25, "width": 0.25, "height": 0.25}


def namespace(kube: KubeCluster) -> str:
    name = f"bench-{int(time.time())}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    client.CoreV1Api(kube.api_client()).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    kube.wait_for(
        "the default ServiceAccount",
        lambda: kube.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    return name


def run_job(kube: KubeCluster, ns: str, name: str, segments: int) -> tuple[float, float]:
    spec = {
        "input": {"claimName": "media", "path": "in/clip.mp4"},
        "output": {"path": f"out/{name}.mp4"},
        "detector": {"kind": "static", "padding": 0, "regions": [REGION]},
        "operation": {"kind": "blur"},
        "segmentation": {"segments": segments, "minFramesPerSegment": 4},
        "encode": {"encoder": "software"},
        "maxParallelPods": segments,
        "resources": {"cpu": "250m", "memory": "1Gi"},
    }
    doc = {"apiVersion": "videojob.dev/v1alpha1", "kind": "VideoJob", "metadata": {"name": name, "namespace": ns}}
    t0 = time.time()
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump({**doc, "spec": spec}))

    def phase() -> str | None:
        out = kube.kubectl("get", "videojob", name, "-n", ns, "-o", "jsonpath={.status.phase}").stdout
        if out == "Failed":
            raise RuntimeError(f"{name} failed")
        return out if out == "Succeeded" else None

    kube.wait_for(f"{name} to succeed", phase, timeout=600, interval=0.1)
    return t0, time.time()


def stage_figures(kube: KubeCluster, ns: str, name: str, done: float) -> dict[str, Any]:
    core = client.CoreV1Api(kube.api_client())
    runs = [r for r in kube.control.records if r.namespace == ns and r.name.startswith(f"{name}-")]
    messages = {}
    for pod in core.list_namespaced_pod(ns, label_selector=f"videojob.dev/job={name}").items:
        term = pod.status.container_statuses[0].state.terminated
        if term is not None and term.message:
            messages[pod.metadata.uid] = json.loads(term.message)
    out: dict[str, Any] = {}
    by_stage: dict[str, list[PodRun]] = {}
    for stage in ("detect", "segments", "finalize"):
        by_stage[stage] = [r for r in runs if r.name.startswith(f"{name}-{stage}")]
        marks = [(r, messages.get(r.uid, {}).get("timings", {})) for r in by_stage[stage]]
        figures: dict[str, list[float]] = {"container_start": [], "imports": [], "first_frames": []}
        for run, t in marks:
            if "process" in t:
                figures["container_start"].append(t["process"] - run.seen_wall)
                figures["imports"].append(t["stage"] - t["process"])
            if "first_frames" in t:
                figures["first_frames"].append(t["first_frames"] - t["stage"])
        out[stage] = {k: round(statistics.median(v), 3) for k, v in figures.items() if v}
        out[stage]["pods"] = len(by_stage[stage])
    ends = {s: max((r.end_wall or 0.0) for r in rs) for s, rs in by_stage.items() if rs}
    starts = {s: min(r.seen_wall for r in rs) for s, rs in by_stage.items() if rs}
    out["transitions"] = {
        "detect_to_segments": round(starts["segments"] - ends["detect"], 3),
        "segments_to_finalize": round(starts["finalize"] - ends["segments"], 3),
        "finalize_to_succeeded": round(done - ends["finalize"], 3),
    }
    return out


def local_run(clip: Path, segments: int, workdir: Path) -> float:
    cmd = [str(Path(sys.executable).with_name("videojob")), "run", str(clip), "-o", str(workdir / "local.mp4")]
    cmd += ["--region", "0.25,0.25,0.25,0.25", "--padding", "0", "--op", "blur", "--segments", str(segments)]
    cmd += ["--workers", "2", "--encoder", "software"]
    (workdir / "local.mp4").unlink(missing_ok=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONSAFEPATH": "1"})
    return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--resync", type=int, default=5, help="the chart's operator.resyncSeconds")
    args = ap.parse_args()
    t_cluster = time.monotonic()
    with start_cluster() as kube:
        cluster_seconds = time.monotonic() - t_cluster
        kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
        ns = namespace(kube)
        volume = kube.create_claim(ns, "media")
        frames = int(args.seconds * 24)
        (volume / "in").mkdir()
        clip = make_clip(volume / "in" / "clip.mp4", 640, 360, frames=frames, fps=24)
        t_install = time.monotonic()
        install_chart(kube, ns, "vj", operator={"resyncSeconds": args.resync})
        install_seconds = time.monotonic() - t_install
        jobs = []
        for i in range(args.repeat):
            start, done = run_job(kube, ns, f"clip-{i}", args.segments)
            jobs.append({"wall": round(done - start, 3), **stage_figures(kube, ns, f"clip-{i}", done)})
        with tempfile.TemporaryDirectory() as tmp:
            local = [local_run(clip, args.segments, Path(tmp)) for _ in range(args.repeat)]
    best = min(jobs, key=lambda j: j["wall"])
    print(
        json.dumps(
            {
                "clip": {"width": 640, "height": 360, "frames": frames, "fps": 24},
                "segments": args.segments,
                "resync_seconds": args.resync,
                "cluster_start_seconds": round(cluster_seconds, 2),
                "helm_install_wait_seconds": round(install_seconds, 2),
                "videojob_wall_seconds": [j["wall"] for j in jobs],
                "local_run_wall_seconds": [round(x, 3) for x in local],
                "cluster_over_local": round(best["wall"] / min(local), 2),
                "best_job": best,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
