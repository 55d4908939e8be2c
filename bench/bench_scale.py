"""The operator at scale on the real test node, printed as JSON (issue 13): one VideoJob of 1000 segments, and 50
concurrent VideoJobs of 2 segments each.

The operator runs as a local `kopf run` process in the node's network namespace under its least-privilege
ServiceAccount (tests/operator/conftest.py `Operator`), VIDEOJOB_RESYNC_SECONDS=10 (the safety net; children's
events drive it), so that its CPU is read straight from /proc (utime+stime of its process group) over the run.
Figures (tests/cluster/scale.py):
  * wall: first `kubectl apply` -> the last VideoJob seen Succeeded;
  * operator CPU seconds and that as a fraction of one core over the wall time (target <= 5 % for 50 jobs);
  * the operator's API requests from the API server's audit log, by verb and resource;
  * per job, in Processing (segments Job created -> finalize Job created) and in steady Processing (all of the
    job's segment pods running + 1 s -> the first one ends), requests per job per 10 s (target <= 1);
  * stage hand-offs: a stage's last pod seen terminated (pod watch) -> the operator's create of the next Job, and
    the finalize pod's end -> its status patch to Succeeded (audit log); p95 (target <= 0.5 s);
  * objects stored: apiserver_storage_objects for pods, jobs, events, videojobs, and this namespace's counts.

    .venv/bin/python bench/bench_scale.py --scenario segments [--segments 1000] [--parallel 8]
    .venv/bin/python bench/bench_scale.py --scenario concurrent [--jobs 50] [--job-segments 2]
    .venv/bin/python bench/bench_scale.py --scenario both   # one node session, concurrent then segments

Needs what `make test` builds (control plane, node binaries, images). Waits for the node lock when another session
holds the node.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cluster.fixtures import POD_UID, KubeCluster, start_cluster  # noqa: E402
from cluster.scale import cpu_seconds, summary, wait_succeeded  # noqa: E402
from kubernetes import client  # noqa: E402

ESTABLISHED = "jsonpath={.status.conditions[?(@.type=='Established')].status}"


def _conftest() -> Any:
    """tests/operator/conftest.py by path: a top-level `operator` package would be the stdlib's."""
    spec = importlib.util.spec_from_file_location("vj_operator_conftest", REPO / "tests" / "operator" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def namespace(kube: KubeCluster) -> str:
    name = f"scale-{int(time.time())}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    client.CoreV1Api(kube.api_client()).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    kube.wait_for(
        "the default ServiceAccount",
        lambda: kube.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    return name


def tiny_spec(jobs: Any, out: str, segments: int, parallel: int, mode: str) -> dict[str, Any]:
    spec: dict[str, Any] = jobs.spec(out=out, segments=segments, mode=mode)
    spec["segmentation"]["minFramesPerSegment"] = 1
    spec["maxParallelPods"] = parallel
    spec["resources"] = {"cpu": "100m", "memory": "256Mi"}
    return spec


def setup(kube: KubeCluster) -> tuple[Any, Path]:
    """The CRD, and the operator's ServiceAccount with deploy/manifests/rbac.yaml's rules: its kubeconfig."""
    conf = _conftest()
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    # (kubectl wait fails outright when it asks before the CRD has any condition)
    kube.wait_for(
        "the CRD to be established",
        lambda: "True" in kube.kubectl("get", "crd/videojobs.videojob.dev", "-o", ESTABLISHED, check=False).stdout,
    )
    kube.kubectl("create", "namespace", conf.SA_NAMESPACE, check=False)
    kube.kubectl("apply", "-f", str(REPO / "deploy" / "manifests" / "rbac.yaml"))
    return conf, kube.service_account_kubeconfig(conf.SA_NAMESPACE, conf.SA_NAME)


def run(
    kube: KubeCluster, conf: Any, sa_config: Path, scenario: str, args: argparse.Namespace, log_dir: Path
) -> dict[str, Any]:
    ns = namespace(kube)
    jobs = conf.VideoJobs(kube, ns, kube.create_claim(ns, "media"))
    if scenario == "segments":
        width, height = (int(x) for x in args.size.split("x"))
        frames = args.segments * args.frames_per_segment
        specs = {"big": tiny_spec(jobs, "out/big.mp4", args.segments, args.parallel, args.mode)}
    else:
        width, height = (int(x) for x in args.job_size.split("x"))
        frames = args.job_segments * args.job_frames_per_segment
        specs = {
            f"job-{i:03d}": tiny_spec(jobs, f"out/job-{i:03d}.mp4", args.job_segments, args.job_segments, args.mode)
            for i in range(args.jobs)
        }
    jobs.clip(frames=frames, width=width, height=height)
    # Made here: 50 detect pods making one new output folder at once race on its mkdir (pipeline/container.py).
    (jobs.volume / "out").mkdir()
    os.chown(jobs.volume / "out", POD_UID, POD_UID)
    op = conf.Operator(
        kube, ns, sa_config, log_dir / f"operator-{scenario}", env={"VIDEOJOB_RESYNC_SECONDS": str(args.resync)}
    )
    op.start()
    try:
        time.sleep(2)  # kopf's start-up (watch listings) is not the run
        spy = _profile(args.profile and f"{args.profile}.{scenario}", op.proc.pid)
        cpu0, since = cpu_seconds(op.proc.pid), time.time()
        for name, spec in specs.items():
            jobs.apply(name, spec)
        until = wait_succeeded(kube, ns, list(specs), timeout=args.timeout)
        cpu = cpu_seconds(op.proc.pid) - cpu0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        figures = summary(kube, ns, list(specs), since, until, cpu)
    except BaseException:
        print(op.logs()[-4000:], file=sys.stderr)
        raise
    finally:
        op.stop()
    return {
        "scenario": scenario,
        "clip": {"width": width, "height": height, "frames": frames, "fps": 24},
        "segments_per_job": args.segments if scenario == "segments" else args.job_segments,
        "max_parallel_pods": args.parallel if scenario == "segments" else args.job_segments,
        "segmentation_mode": args.mode,
        "resync_seconds": args.resync,
        "cluster_start_seconds": round(kube.start_seconds, 2),
        **figures,
    }


def _profile(out: str | None, pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy (installed apart: it is no project dependency) sampling the operator's Python stacks, collapsed."""
    if not out:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("--profile needs py-spy on PATH (pip install py-spy, in a venv of its own)")
    cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", out, "--rate", "50", "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", choices=["segments", "concurrent", "both"], required=True)
    ap.add_argument("--segments", type=int, default=1000, help="segments of the one job (scenario segments)")
    ap.add_argument("--parallel", type=int, default=8, help="its maxParallelPods")
    # One pod per segment is the operator's hardest case (a Job index, a pod and its events per segment); pool
    # mode runs maxParallelPods warm workers instead (what auto picks for the one job of 1000).
    ap.add_argument("--mode", default="pod-per-segment", choices=["pod-per-segment", "pool", "auto"])
    ap.add_argument("--jobs", type=int, default=50, help="concurrent VideoJobs (scenario concurrent)")
    ap.add_argument("--job-segments", type=int, default=2, help="segments of each concurrent job")
    ap.add_argument("--frames-per-segment", type=int, default=4, help="of the one job's clip")
    ap.add_argument("--size", default="64x36", help="the one job's clip, WxH")
    # The concurrent jobs' segments last a few seconds: steady Processing (all segment pods running) is measurable.
    ap.add_argument("--job-frames-per-segment", type=int, default=120, help="of the concurrent jobs' clip")
    ap.add_argument("--job-size", default="320x180", help="the concurrent jobs' clip, WxH")
    ap.add_argument("--resync", type=int, default=10, help="VIDEOJOB_RESYNC_SECONDS")
    ap.add_argument("--profile", help="write py-spy's collapsed stacks of the operator here (py-spy on PATH)")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds to wait for the jobs")
    args = ap.parse_args()
    scenarios = ["concurrent", "segments"] if args.scenario == "both" else [args.scenario]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, start_cluster() as kube:
        conf, sa_config = setup(kube)
        for scenario in scenarios:  # one node session for both: the node lock is shared with other sessions
            results[scenario] = run(kube, conf, sa_config, scenario, args, Path(tmp))
            print(json.dumps(results[scenario]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
