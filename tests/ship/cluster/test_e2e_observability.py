"""A VideoJob end to end on the harness with the real operator (kopf, least-privilege ServiceAccount), a real
Redis for worker progress and a real Prometheus scraping the operator's /metrics: the job succeeds, progress went
through Redis, and every dashboard panel's query returns data over the job's time range (DCGM panels: syntax)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import redis
import yaml
from cluster import procs
from cluster.fixtures import WORKER_SLIM_IMAGE, KubeCluster
from cluster.noderedis import node_redis
from support.media import make_clip
from support.prometheus import Prometheus, prometheus_server
from support.redis_server import RedisServer

__all__ = ["node_redis", "prometheus_server"]

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
KOPF = Path(sys.executable).with_name("kopf")


def load_dashboard() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "videojob_dashboard_e2e", REPO / "deploy" / "grafana" / "dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_job_metrics_progress_and_dashboard(
    kube: KubeCluster,
    namespace: str,
    node_redis: RedisServer,
    prometheus_server: Callable[[list[str]], Prometheus],
    tmp_path: Path,
) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")
    kube.kubectl("create", "namespace", "videojob-system", check=False)
    kube.kubectl("apply", "-f", str(REPO / "deploy" / "manifests" / "rbac.yaml"))
    sa_config = kube.service_account_kubeconfig("videojob-system", "videojob-operator")
    volume = kube.create_claim(namespace, "media")
    (volume / "in").mkdir(parents=True, exist_ok=True)
    make_clip(volume / "in" / "clip.mp4", 160, 120, frames=96, fps=24)

    metrics_port, health_port = procs.free_port(), procs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "VIDEOJOB_"))}
    env.update(
        KUBECONFIG=str(sa_config),
        PYTHONSAFEPATH="1",
        VIDEOJOB_RESYNC_SECONDS="1",
        VIDEOJOB_WORKER_IMAGE=WORKER_SLIM_IMAGE,
        VIDEOJOB_METRICS_PORT=str(metrics_port),
        VIDEOJOB_METRICS_ADDR="127.0.0.1",
        VIDEOJOB_REDIS_URL=node_redis.url,
    )
    args = [
        str(KOPF),
        "run",
        "-m",
        "videojob.operator.main",
        "--namespace",
        namespace,
        "--standalone",
        f"--liveness=http://127.0.0.1:{health_port}/healthz",
    ]
    # On the test node's network, where the pods' Redis and the API are; its /metrics bridged to the host's
    # loopback for Prometheus.
    kube.node.expose_node_port(metrics_port)
    operator = procs.start(kube.node.enter_net(args), tmp_path / "operator.log", env)
    try:

        def metrics_up() -> bool:
            assert operator.poll() is None, (tmp_path / "operator.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1):
                    return True
            except OSError:
                return False

        kube.wait_for("the operator's /metrics", metrics_up, timeout=60)
        prom = prometheus_server([f"127.0.0.1:{metrics_port}"])
        kube.wait_for("Prometheus to scrape the operator", prom.targets_up, timeout=60)

        start = time.time()
        job = {
            "apiVersion": "videojob.dev/v1alpha1",
            "kind": "VideoJob",
            "metadata": {"name": "clip", "namespace": namespace},
            "spec": {
                "input": {"claimName": "media", "path": "in/clip.mp4"},
                "output": {"path": "out/clip.mp4"},
                "detector": {"kind": "static", "regions": [{"left": 0.25, "top": 0.25, "width": 0.25, "height": 0.25}]},
                "operation": {"kind": "blur"},
                "segmentation": {"segments": 3, "minFramesPerSegment": 4},
                "encode": {"encoder": "software"},
                "resources": {"cpu": "500m", "memory": "1Gi"},
            },
        }
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(job))

        # Workers report progress and heartbeats to Redis (contracts.md keys, the job's uid in them), each segment
        # to its last frame; the operator deletes the job's keys when it ends, so they are read while it runs.
        r = redis.Redis.from_url(node_redis.local_url, decode_responses=True)
        seen: dict[int, dict[str, str]] = {}

        def finished() -> dict | None:
            vj = json.loads(kube.kubectl("get", "videojob", "clip", "-n", namespace, "-o", "json").stdout)
            st = vj.get("status") or {}
            key = f"videojob:{namespace}/clip/{vj['metadata']['uid']}"
            for i in range(3):
                got = r.hgetall(f"{key}:seg:{i}")
                if got and int(got["frames"]) >= int(seen.get(i, {}).get("frames", -1)):
                    seen[i] = got
            assert st.get("phase") != "Failed", st.get("message")
            return st if st.get("phase") == "Succeeded" else None

        st = kube.wait_for("the VideoJob to succeed", finished, timeout=240, interval=0.2)
        assert st["frames"] == {"total": 96, "done": 96}
        uid = json.loads(kube.kubectl("get", "videojob", "clip", "-n", namespace, "-o", "json").stdout)["metadata"][
            "uid"
        ]
        leftover = r.keys(f"videojob:{namespace}/clip/{uid}:*")
        r.close()
        assert assert_segments_reported(seen) == 96
        assert leftover == [], leftover

        time.sleep(4)  # a few more scrapes after the last change
        end = time.time()
        board = load_dashboard()
        checked = 0
        for panel in board.PANELS:
            for q in panel.queries:
                # Grafana's variables as it would fill them for this range; evaluated as the range query it sends.
                span = f"{max(10, int(end - start) + 5)}s"
                expr = q.expr.replace("$__rate_interval", "30s").replace("$__range", span)
                # The variables set to this job, as a user picking it would (DNS labels: no regex metacharacters).
                expr = expr.replace("$namespace", namespace).replace("$job", "clip")
                data = prom.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1")
                values = [float(v[1]) for series in data["result"] for v in series["values"]]
                if panel.dcgm:
                    assert values == [], expr  # parsed and evaluated by Prometheus; no DCGM exporter here
                    continue
                if "videojob_job_failures_total" in expr or 'phase="Failed"' in expr:
                    # This job succeeded: nothing may say it failed (the failed case: test_dashboard_prometheus.py).
                    assert not any(v > 0 for v in values), f"panel {panel.title!r}: a failure shown by {expr}"
                    continue
                if any(m in expr for m in ("videojob_reconcile_errors_total", "videojob_api_errors_total")):
                    continue  # evaluated; a labelled error counter has no series until an error happens
                assert any(math.isfinite(v) for v in values), f"panel {panel.title!r}: no data for {expr}"
                checked += 1
        assert checked >= 12
        # The stage histograms saw each stage once, and frames add up to the clip.
        stages = prom.query("sum by (stage) (videojob_stage_duration_seconds_count)")
        assert {s["metric"]["stage"]: float(s["value"][1]) for s in stages} == {
            "detect": 1,
            "process": 1,
            "finalize": 1,
        }
        assert float(prom.query("sum(videojob_frames_processed_total)")[0]["value"][1]) == 96
    finally:
        kube.kubectl("delete", "videojobs", "--all", "-n", namespace, "--wait=true", "--timeout=60s", check=False)
        procs.stop(operator)


def assert_segments_reported(seen: dict[int, dict[str, str]]) -> int:
    """Every segment's hash was seen at its last frame; the frames they cover, summed."""
    assert sorted(seen) == [0, 1, 2], seen
    assert all(int(s["frames"]) == int(s["total"]) > 0 and float(s["ts"]) > 0 for s in seen.values()), seen
    return sum(int(s["total"]) for s in seen.values())
