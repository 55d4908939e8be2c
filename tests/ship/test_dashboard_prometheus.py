"""Every Grafana panel's query, evaluated by a real Prometheus that scrapes the operator's metrics endpoint
(`videojob.operator.metrics.serve`) while a process records realistic values through the public functions the
controller uses. DCGM panels (no GPU exporter here) are checked for syntax by Prometheus' parser and promtool."""

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
}

RECORDER = """
import random, sys, time
from videojob.operator import metrics
metrics.serve(int(sys.argv[1]), addr="127.0.0.1")
rng = random.Random(7)
end = time.monotonic() + float(sys.argv[2])
tick = 0
while time.monotonic() < end:
    tick += 1
    metrics.set_phase_counts({"Processing": 2, "Detecting": 1, "Succeeded": 3 + tick // 10, "Failed": 1})
    metrics.add_frames(rng.randint(200, 400))
    metrics.set_fps("media", "street", 240.0 + rng.random() * 20)
    metrics.set_fps("media", "parade", 120.0 + rng.random() * 20)
    metrics.observe_segment(rng.uniform(20, 90))
    for stage, (lo, hi) in {"detect": (5, 30), "process": (60, 600), "finalize": (2, 20)}.items():
        metrics.observe_stage(stage, rng.uniform(lo, hi))
        metrics.observe_pending(stage, rng.uniform(0.5, 40))
    if tick % 3 == 0:
        metrics.add_retries(1)
        metrics.add_stalled(1)
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


def concrete(expr: str) -> str:
    """Grafana's interval variables as Grafana would fill them for a short range at a 1 s scrape interval."""
    return expr.replace("$__rate_interval", "10s").replace("$__range", "30s")


@pytest.fixture
def operator_metrics(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with (tmp_path / "recorder.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(port), "120"], stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "recorder.log").read_text()) from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(10)


def test_metrics_endpoint_exposes_the_contract(operator_metrics: str) -> None:
    with urllib.request.urlopen(f"http://{operator_metrics}/metrics", timeout=5) as r:
        families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    for name, kind in CONTRACT.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].type == kind, (name, families[name].type)
    phases = {s.labels["phase"] for s in families["videojob_jobs"].samples}
    assert {"Pending", "Processing", "Succeeded", "Failed"} <= phases
    jobs = {(s.labels["namespace"], s.labels["videojob"]) for s in families["videojob_frames_per_second"].samples}
    assert jobs == {("media", "street"), ("media", "parade")}


def test_every_panel_query_returns_data(
    operator_metrics: str, prometheus_server: Callable[[list[str]], Prometheus], tmp_path: Path
) -> None:
    board = load_dashboard()
    prom = prometheus_server([operator_metrics])
    deadline = time.monotonic() + 60
    while not prom.targets_up():
        assert time.monotonic() < deadline, prom.log()[-2000:]
        time.sleep(0.5)
    time.sleep(12)  # > 10 scrapes: a full rate window behind every query
    dcgm_exprs = []
    checked = 0
    for panel in board.PANELS:
        for q in panel.queries:
            expr = concrete(q.expr)
            result = prom.query(expr)  # raises PromQLError on a syntax or type error
            if panel.dcgm:
                assert result == [], f"{panel.title}: no DCGM exporter here, yet data for {expr}"
                dcgm_exprs.append(expr)
                continue
            values = [float(r["value"][1]) for r in result]
            assert values, f"panel {panel.title!r}: no data for {expr}"
            assert any(math.isfinite(v) and v > 0 for v in values), (panel.title, expr, values)
            checked += 1
    assert checked >= 12 and dcgm_exprs
    # DCGM queries: promtool's parser too (as recording rules), besides the API's.
    rules = {
        "groups": [
            {"name": "dcgm", "rules": [{"record": f"videojob:dcgm_{i}", "expr": e} for i, e in enumerate(dcgm_exprs)]}
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    out = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # The check is real: a broken query is refused.
    with pytest.raises(Exception, match="parse error"):
        prom.query("sum(rate(videojob_frames_processed_total[10s])")


def test_committed_dashboard_json_is_generated() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "grafana" / "dashboard.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
