"""The videojob Grafana dashboard, built with Grafana's own grafana-foundation-sdk.

    .venv/bin/python deploy/grafana/dashboard.py --write   # writes the JSON below (chart + deploy/grafana)
    .venv/bin/python deploy/grafana/dashboard.py --check   # exit 1 when a committed JSON differs

PANELS is also what tests/ship/test_dashboard_prometheus.py evaluates against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    GraphDrawStyle,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef

REPO = Path(__file__).resolve().parents[2]
TARGETS = [
    REPO / "charts" / "videojob-operator" / "dashboards" / "videojob.json",
    REPO / "deploy" / "grafana" / "videojob.json",
]
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    stacked: bool = False
    dcgm: bool = False  # from NVIDIA's DCGM exporter, not the operator


def _q(expr: str, legend: str) -> Query:
    return Query(expr, legend)


PANELS: tuple[Panel, ...] = (
    Panel(
        "Active jobs",
        "VideoJobs not yet Succeeded or Failed.",
        "short",
        (_q("sum(videojob_active_jobs)", "active"),),
        kind="stat",
        width=6,
    ),
    Panel(
        "Throughput",
        "Frames processed per second, all jobs.",
        "fps",
        (_q(f"sum(rate(videojob_frames_processed_total[{RATE}]))", "frames/s"),),
        kind="stat",
        width=6,
    ),
    Panel(
        "GPU utilisation (now)",
        "Mean utilisation of the GPUs DCGM exporter reports.",
        "percent",
        (_q("avg(DCGM_FI_DEV_GPU_UTIL)", "GPU %"),),
        kind="stat",
        width=6,
        dcgm=True,
    ),
    Panel(
        "Stalled segments",
        "Segments restarted because their Redis heartbeat stopped (in the range).",
        "short",
        (_q("sum(increase(videojob_stalled_segments_total[$__range]))", "stalled"),),
        kind="stat",
        width=6,
    ),
    Panel(
        "Jobs by phase",
        "VideoJobs the operator knows, by phase.",
        "short",
        (_q("sum by (phase) (videojob_jobs)", "{{phase}}"),),
        stacked=True,
    ),
    Panel(
        "Throughput per job",
        "Frames per second of each job's process stage.",
        "fps",
        (
            _q(f"sum(rate(videojob_frames_processed_total[{RATE}]))", "all jobs"),
            _q("videojob_frames_per_second", "{{namespace}}/{{videojob}}"),
        ),
    ),
    Panel(
        "Segment duration p50 / p95",
        "Processing time of one segment pod.",
        "s",
        (
            _q(f"histogram_quantile(0.5, sum by (le) (rate(videojob_segment_duration_seconds_bucket[{RATE}])))", "p50"),
            _q(
                f"histogram_quantile(0.95, sum by (le) (rate(videojob_segment_duration_seconds_bucket[{RATE}])))", "p95"
            ),
        ),
    ),
    Panel(
        "Stage breakdown",
        "Mean wall time of each stage of a job.",
        "s",
        (
            _q(
                f"sum by (stage) (rate(videojob_stage_duration_seconds_sum[{RATE}]))"
                f" / sum by (stage) (rate(videojob_stage_duration_seconds_count[{RATE}]))",
                "{{stage}}",
            ),
        ),
        stacked=True,
    ),
    Panel(
        "Retries",
        "Segment pods that failed and were retried, and stalled segments restarted.",
        "short",
        (
            _q(f"sum(increase(videojob_segment_retries_total[{RATE}]))", "retries"),
            _q(f"sum(increase(videojob_stalled_segments_total[{RATE}]))", "stalled"),
        ),
    ),
    Panel(
        "Queue time p95 (pod pending)",
        "Time worker pods waited for a node/GPU before starting, by stage.",
        "s",
        (
            _q(
                f"histogram_quantile(0.95, sum by (le, stage) (rate(videojob_pod_pending_seconds_bucket[{RATE}])))",
                "{{stage}}",
            ),
        ),
    ),
    Panel(
        "GPU utilisation",
        "NVIDIA DCGM exporter: SM utilisation per GPU.",
        "percent",
        (_q("avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} GPU {{gpu}}"),),
        dcgm=True,
    ),
    Panel(
        "NVENC / NVDEC utilisation",
        "NVIDIA DCGM exporter: video encoder and decoder engines per GPU.",
        "percent",
        (
            _q("avg by (Hostname, gpu) (DCGM_FI_DEV_ENC_UTIL)", "{{Hostname}} GPU {{gpu}} enc"),
            _q("avg by (Hostname, gpu) (DCGM_FI_DEV_DEC_UTIL)", "{{Hostname}} GPU {{gpu}} dec"),
        ),
        dcgm=True,
    ),
)


def _target(i: int, q: Query) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + i)).datasource(DS)


def build() -> dict:
    board = (
        dashboard.Dashboard("VideoJob")
        .uid("videojob")
        .tags(["videojob", "gpu", "kubernetes"])
        .description("videojob operator: jobs, throughput, segment and stage times, retries, queue time, GPUs.")
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for p in PANELS:
        panel: stat.Panel | timeseries.Panel
        if p.kind == "stat":
            panel = (
                stat.Panel()
                .graph_mode(BigValueGraphMode.AREA)
                .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            )
        else:
            panel = (
                timeseries.Panel()
                .draw_style(GraphDrawStyle.LINE)
                .fill_opacity(15 if p.stacked else 5)
                .legend(
                    common.VizLegendOptions()
                    .display_mode(LegendDisplayMode.LIST)
                    .placement(LegendPlacement.BOTTOM)
                    .show_legend(True)
                )
                .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
            )
            if p.stacked:
                panel = panel.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
        panel = panel.title(p.title).description(p.description).unit(p.unit).datasource(DS)
        panel = panel.span(p.width).height(4 if p.kind == "stat" else 8)
        for i, q in enumerate(p.queries):
            panel = panel.with_target(_target(i, q))
        board = board.with_panel(panel)
    return json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build()))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    stale = [t for t in TARGETS if not t.exists() or t.read_text() != text]
    if args.check:
        for t in stale:
            print(f"{t.relative_to(REPO)} is stale: run deploy/grafana/dashboard.py --write", file=sys.stderr)
        return 1 if stale else 0
    for t in stale:
        t.parent.mkdir(parents=True, exist_ok=True)
        tmp = t.with_name(f"{t.name}.tmp")
        tmp.write_text(text)
        tmp.replace(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
