"""Every Grafana panel's query, its variables and its annotations, evaluated by a real Prometheus that scrapes the
operator's metrics endpoint (`videojob.operator.metrics.serve`) while a process records realistic values through
the public functions the operator uses. The GPU panels read a second target serving DCGM exporter series (its
metric names and its Kubernetes labels: namespace, pod, container, gpu, UUID, Hostname) for our worker pods and
for a pod of another workload, which the panels must leave out."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from support.prometheus import Prometheus, free_port, prometheus_server

__all__ = ["prometheus_server"]

REPO = Path(__file__).resolve().parents[2]

# contracts.md: the operator's metric families (prometheus-client strips _total from counter family names).
CONTRACT = {
    "videojob_jobs": "gauge",
    "videojob_active_jobs": "gauge",
    "videojob_stage_duration_seconds": "histogram",
    "videojob_segment_duration_seconds": "histogram",
    "videojob_frames_processed": "counter",
    "videojob_frames_per_second": "gauge",
    "videojob_segment_retries": "counter",
    "videojob_pod_pending_seconds": "histogram",
    "videojob_stalled_segments": "counter",
    "videojob_job_info": "gauge",
    "videojob_job_start_time_seconds": "gauge",
    "videojob_job_completion_time_seconds": "gauge",
    "videojob_job_progress_percent": "gauge",
    "videojob_job_frames": "gauge",
    "videojob_job_segments": "gauge",
    "videojob_job_stage_seconds": "gauge",
    "videojob_job_failures": "counter",
    "videojob_operator_info": "gauge",
    "videojob_api_reachable": "gauge",
    "videojob_api_errors": "counter",
    "videojob_reconcile_errors": "counter",
}

RECORDER = """
import random, sys, time
from datetime import datetime, timezone
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from videojob.operator import metrics
metrics.serve(int(sys.argv[1]), addr="127.0.0.1")
# A stand-in for NVIDIA's dcgm-exporter (its metric names and Kubernetes labels) on a second port.
dcgm = CollectorRegistry()
labels = ["gpu", "UUID", "Hostname", "namespace", "pod", "container"]
gauges = {n: Gauge(n, n, labels, registry=dcgm) for n in
          ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL", "DCGM_FI_DEV_FB_USED")}
pods = [("0", "media", "street-segments-0-x7k2p", 40), ("1", "media", "street-detect-q8w4z", 60),
        ("2", "team-b", "parade-segments-3-m2n8v", 30), ("3", "ml", "trainer-0", 99)]
for gpu, ns, pod, util in pods:
    for g in gauges.values():
        g.labels(gpu, f"GPU-{gpu}", "node-1", ns, pod, "worker" if ns != "ml" else "train").set(util)
start_http_server(int(sys.argv[3]), addr="127.0.0.1", registry=dcgm)
metrics.operator_started("0.1.0")
metrics.api_check(True)
rng = random.Random(7)
now = lambda: datetime.now(timezone.utc).isoformat()
started = now()
end = time.monotonic() + float(sys.argv[2])
tick = 0
while time.monotonic() < end:
    tick += 1
    metrics.set_phase_counts({"Processing": 2, "Detecting": 1, "Succeeded": 3 + tick // 10, "Failed": 1})
    metrics.add_frames(rng.randint(200, 400))
    metrics.set_fps("media", "street", 240.0 + rng.random() * 20)
    metrics.set_fps("team-b", "parade", 120.0 + rng.random() * 20)
    metrics.observe_job("media", "street", {"phase": "Processing", "startTime": started, "progress": 40 + tick % 50,
        "frames": {"total": 9000, "done": 100 * tick}, "segments": {"total": 8, "succeeded": 2, "active": 3, "failed": 1},
        "stageSeconds": {"detect": 12.5}})
    metrics.observe_job("team-b", "parade", {"phase": "Processing", "startTime": started, "progress": 10,
        "segments": {"total": 4, "active": 2}, "stageSeconds": {"detect": 3.0}})
    metrics.observe_job("media", "done", {"phase": "Succeeded", "startTime": started, "completionTime": now(),
        "progress": 100, "stageSeconds": {"detect": 2.0, "process": 30.0, "finalize": 4.0}})
    # A job of team-b fails every tick (and is deleted three ticks later: its series go with it).
    metrics.observe_job("team-b", f"f{tick}", {"phase": "Processing", "startTime": now()})
    metrics.observe_job("team-b", f"f{tick}", {"phase": "Failed", "startTime": now(), "completionTime": now(),
        "conditions": [{"type": "Failed", "status": "True", "reason": "SegmentFailed"}]})
    metrics.forget_job("team-b", f"f{tick - 3}")
    metrics.observe_segment(rng.uniform(20, 90))
    for stage, (lo, hi) in {"detect": (5, 30), "process": (60, 600), "finalize": (2, 20)}.items():
        metrics.observe_stage(stage, rng.uniform(lo, hi))
        metrics.observe_pending(stage, rng.uniform(0.5, 40))
    if tick % 3 == 0:
        metrics.add_retries(1)
        metrics.add_stalled(1)
        metrics.reconcile_failed("api")
        metrics.reconcile_failed("internal")
    metrics.forget("media", "gone")  # a finished job's series disappear; must not raise for unknown ones
    time.sleep(0.25)
"""


def load_dashboard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("videojob_dashboard", REPO / "deploy" / "grafana" / "dashboard.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def concrete(expr: str, namespace: str = ".+", job: str = ".+") -> str:
    """The query as Grafana sends it: interval variables for a short range at a 1 s scrape interval, and the
    namespace and job variables (".+" is their All)."""
    expr = expr.replace("$__rate_interval", "10s").replace("$__range", "30s")
    return expr.replace("$namespace", namespace).replace("$job", job)


@pytest.fixture
def operator_metrics(tmp_path: Path) -> Iterator[list[str]]:
    """[operator target, DCGM target]."""
    port, dcgm_port = free_port(), free_port()
    with (tmp_path / "recorder.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(port), "120", str(dcgm_port)], stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                for p in (port, dcgm_port):
                    with urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=1):
                        pass
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "recorder.log").read_text()) from None
                time.sleep(0.1)
        yield [f"127.0.0.1:{port}", f"127.0.0.1:{dcgm_port}"]
    finally:
        proc.kill()
        proc.wait(10)


def test_metrics_endpoint_exposes_the_contract(operator_metrics: list[str]) -> None:
    with urllib.request.urlopen(f"http://{operator_metrics[0]}/metrics", timeout=5) as r:
        families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    for name, kind in CONTRACT.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == kind, (name, families[name].type)
    phases = {s.labels["phase"] for s in families["videojob_jobs"].samples}
    assert {"Pending", "Processing", "Succeeded", "Failed"} <= phases
    jobs = {(s.labels["namespace"], s.labels["videojob"]) for s in families["videojob_frames_per_second"].samples}
    assert jobs == {("media", "street"), ("team-b", "parade")}
    # Per-job series: a deleted job's are gone (bounded cardinality), a live one's carry both labels.
    info = {
        (s.labels["namespace"], s.labels["videojob"]): s.labels["phase"] for s in families["videojob_job_info"].samples
    }
    assert info[("media", "street")] == "Processing" and info[("media", "done")] == "Succeeded"
    failed = [name for (ns, name), phase in info.items() if phase == "Failed"]
    assert 1 <= len(failed) <= 4, failed  # the last ticks' failed jobs only


def test_every_panel_query_returns_data(
    operator_metrics: list[str], prometheus_server: Callable[[list[str]], Prometheus], tmp_path: Path
) -> None:
    board = load_dashboard()
    prom = prometheus_server(operator_metrics)
    deadline = time.monotonic() + 60
    while not prom.targets_up():
        assert time.monotonic() < deadline, prom.log()[-2000:]
        time.sleep(0.5)
    time.sleep(12)  # > 10 scrapes: a full rate window behind every query
    exprs = []
    for panel in board.PANELS:
        for q in panel.queries:
            expr = concrete(q.expr)
            result = prom.query(expr)  # raises PromQLError on a syntax or type error
            values = [float(r["value"][1]) for r in result]
            assert values, f"panel {panel.title!r}: no data for {expr}"
            assert any(math.isfinite(v) and v > 0 for v in values), (panel.title, expr, values)
            exprs.append(expr)
    assert len(exprs) >= 25
    # promtool's parser too (as recording rules), besides the API's.
    rules = {
        "groups": [{"name": "board", "rules": [{"record": f"videojob:q{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    out = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # The check is real: a broken query is refused.
    with pytest.raises(Exception, match="parse error"):
        prom.query("sum(rate(videojob_frames_processed_total[10s])")

    _variables_filter_every_job_panel(board, prom)
    _gpu_panels_see_our_pods_only(board, prom)
    _annotations_mark_job_starts_and_ends(board, prom)


def _variables_filter_every_job_panel(board: ModuleType, prom: Prometheus) -> None:
    """namespace=media, job=street: the per-job panels show that job only; the variables list what exists."""
    namespaces = prom.api("label/namespace/values", **{"match[]": "videojob_job_info"})
    assert namespaces == ["media", "team-b"]
    jobs = prom.api("label/videojob/values", **{"match[]": 'videojob_job_info{namespace=~"media"}'})
    assert jobs == ["done", "street"]
    filtered = 0
    for panel in board.PANELS:
        for q in panel.queries:
            if "$namespace" not in q.expr:
                continue
            result = prom.query(concrete(q.expr, namespace="media", job="street"))
            for r in result:
                assert r["metric"].get("namespace", "media") == "media", (panel.title, r)
                assert r["metric"].get("videojob", "street") == "street", (panel.title, r)
                assert r["metric"].get("pod", "street-").startswith("street-"), (panel.title, r)
            filtered += 1
    assert filtered >= 15
    # A job in another namespace shows nothing under media: the filter is applied, not ignored.
    assert (
        prom.query(
            concrete(
                'videojob_job_progress_percent{namespace=~"$namespace", videojob=~"$job"}',
                namespace="media",
                job="parade",
            )
        )
        == []
    )


def _gpu_panels_see_our_pods_only(board: ModuleType, prom: Prometheus) -> None:
    gpu = next(p for p in board.PANELS if p.title == "GPU utilisation (our pods)")
    pods = {r["metric"]["pod"] for r in prom.query(concrete(gpu.queries[0].expr))}
    assert pods == {"street-segments-0-x7k2p", "street-detect-q8w4z", "parade-segments-3-m2n8v"}  # not trainer-0
    now = next(p for p in board.PANELS if p.title == "GPU utilisation (our pods, now)")
    (mean,) = prom.query(concrete(now.queries[0].expr))
    assert float(mean["value"][1]) == pytest.approx((40 + 60 + 30) / 3)  # the other workload's 99% left out
    (mine,) = prom.query(concrete(now.queries[0].expr, namespace="team-b"))
    assert float(mine["value"][1]) == pytest.approx(30)


def _annotations_mark_job_starts_and_ends(board: ModuleType, prom: Prometheus) -> None:
    dashboard = board.build()
    by_name = {a["name"]: a for a in dashboard["annotations"]["list"]}
    for name in ("Job started", "Job ended"):
        a = by_name[name]
        assert a["useValueForTime"] is True and "{{videojob}}" in a["titleFormat"]
        result = prom.query(concrete(a["expr"]))
        assert result, name
        for r in result:
            assert abs(float(r["value"][1]) / 1000 - time.time()) < 3600, (name, r)  # a time in ms, near now
    ended = {
        (r["metric"]["videojob"], r["metric"]["phase"]) for r in prom.query(concrete(by_name["Job ended"]["expr"]))
    }
    assert ("done", "Succeeded") in ended and any(phase == "Failed" for _, phase in ended)


def test_a_deleted_job_leaves_no_series() -> None:
    """Cardinality: every series of a VideoJob goes when it is deleted; a phase change leaves no stale phase."""
    from prometheus_client import REGISTRY, generate_latest
    from videojob.operator import metrics

    metrics.observe_job(
        "cardinality",
        "j1",
        {
            "phase": "Processing",
            "startTime": "2026-01-01T00:00:00Z",
            "progress": 5,
            "segments": {"total": 2},
            "frames": {"done": 1},
        },
    )
    metrics.set_fps("cardinality", "j1", 12.0)
    metrics.observe_job(
        "cardinality",
        "j1",
        {
            "phase": "Failed",
            "completionTime": "2026-01-01T00:01:00Z",
            "conditions": [{"type": "Failed", "status": "True", "reason": "X"}],
        },
    )
    text = generate_latest(REGISTRY).decode()
    phases = [ln for ln in text.splitlines() if ln.startswith("videojob_job_info{") and 'namespace="cardinality"' in ln]
    assert len(phases) == 1 and 'phase="Failed"' in phases[0], phases
    assert 'videojob_job_failures_total{namespace="cardinality",reason="X"} 1.0' in text
    metrics.forget_job("cardinality", "j1")
    left = [ln for ln in generate_latest(REGISTRY).decode().splitlines() if 'videojob="j1"' in ln]
    assert left == []


def test_committed_dashboard_json_is_generated() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "grafana" / "dashboard.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
