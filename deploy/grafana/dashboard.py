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
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh, VariableSort

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


# The dashboard's variables, as the queries use them. Multi-valued: Grafana writes a selection as a regex
# alternation, and "All" as ALL (every value, including jobs that are gone from the label list).
ALL = ".+"
JOB = 'namespace=~"$namespace", videojob=~"$job"'
NS = 'namespace=~"$namespace"'
# Our worker pods (operator/naming.py: <job>-detect-*, <job>-segments-<index>-*, <job>-finalize-*; a VideoJob
# name longer than 49 characters is shortened with a hash there and only matches with job = All).
PODS = f'{NS}, pod=~"($job)-(detect|segments|finalize)(-.*)?"'
# The operator's target: its `up`, kept for an hour after it went away so that "down" reads 0, not "No data".
OPERATOR_UP = "up and on (instance, job) last_over_time(videojob_operator_info[1h])"


@dataclass(frozen=True)
class Annotation:
    name: str
    expr: str  # a timestamp in milliseconds as the value: Grafana's "series value as timestamp"
    title: str
    color: str


ANNOTATIONS: tuple[Annotation, ...] = (
    Annotation("Job started", f"videojob_job_start_time_seconds{{{JOB}}} * 1000", "{{videojob}} started", "blue"),
    Annotation(
        "Job ended",
        f"videojob_job_completion_time_seconds{{{JOB}}} * 1000",
        "{{videojob}} {{phase}} {{reason}}",
        "purple",
    ),
)

PANELS: tuple[Panel, ...] = (
    Panel(
        "Active jobs",
        "VideoJobs of the chosen namespaces and jobs that are neither Succeeded nor Failed.",
        "short",
        (_q(f'count(videojob_job_info{{{JOB}, phase!~"Succeeded|Failed"}}) or vector(0)', "active"),),
        kind="stat",
        width=4,
    ),
    Panel(
        "Throughput",
        "Frames per second of the chosen jobs' process stages.",
        "fps",
        (_q(f"sum(videojob_frames_per_second{{{JOB}}}) or vector(0)", "frames/s"),),
        kind="stat",
        width=4,
    ),
    Panel(
        "GPU utilisation (our pods, now)",
        "DCGM exporter: mean SM utilisation of the GPUs the chosen jobs' worker pods hold.",
        "percent",
        (_q(f"avg(DCGM_FI_DEV_GPU_UTIL{{{PODS}}})", "GPU %"),),
        kind="stat",
        width=4,
        dcgm=True,
    ),
    Panel(
        "Failed jobs",
        "VideoJobs of the chosen namespaces that failed in the time range (while the operator watched).",
        "short",
        (_q(f"sum(increase(videojob_job_failures_total{{{NS}}}[$__range])) or vector(0)", "failed"),),
        kind="stat",
        width=4,
    ),
    Panel(
        "Operator up",
        "1 while Prometheus scrapes the operator; 0 when it went away (within the last hour).",
        "short",
        (_q(f"min({OPERATOR_UP})", "up"),),
        kind="stat",
        width=4,
    ),
    Panel(
        "API server reachable",
        "The operator's readiness check: 1 while the API server serves the VideoJob API to it.",
        "short",
        (_q("min(videojob_api_reachable)", "reachable"),),
        kind="stat",
        width=4,
    ),
    Panel(
        "Jobs by phase",
        "The chosen VideoJobs, by phase.",
        "short",
        (_q(f"count by (phase) (videojob_job_info{{{JOB}}})", "{{phase}}"),),
        stacked=True,
    ),
    Panel(
        "Progress per job",
        "Percent done of each chosen VideoJob.",
        "percent",
        (_q(f"videojob_job_progress_percent{{{JOB}}}", "{{namespace}}/{{videojob}}"),),
    ),
    Panel(
        "Throughput per job",
        "Frames per second of each job's process stage.",
        "fps",
        (_q(f"videojob_frames_per_second{{{JOB}}}", "{{namespace}}/{{videojob}}"),),
    ),
    Panel(
        "Segments per job",
        "Segment pods running and segments failed, per job.",
        "short",
        (_q(f'videojob_job_segments{{{JOB}, state=~"active|failed"}}', "{{videojob}} {{state}}"),),
    ),
    Panel(
        "Stage time per job",
        "Wall time of each finished stage (detect, process, finalize) of each chosen job.",
        "s",
        (_q(f"videojob_job_stage_seconds{{{JOB}}}", "{{videojob}} {{stage}}"),),
    ),
    Panel(
        "Failures by reason",
        "Jobs that failed in each interval, and the failed jobs still there, by the reason of their Failed condition.",
        "short",
        (
            _q(f"sum by (reason) (increase(videojob_job_failures_total{{{NS}}}[{RATE}]))", "{{reason}} (new)"),
            _q(
                f'count by (reason) (videojob_job_completion_time_seconds{{{JOB}, phase="Failed"}})',
                "{{reason}} (failed jobs)",
            ),
        ),
    ),
    Panel(
        "Segment duration p50 / p95 (all namespaces)",
        "Processing time of one segment pod, every job.",
        "s",
        (
            _q(f"histogram_quantile(0.5, sum by (le) (rate(videojob_segment_duration_seconds_bucket[{RATE}])))", "p50"),
            _q(
                f"histogram_quantile(0.95, sum by (le) (rate(videojob_segment_duration_seconds_bucket[{RATE}])))", "p95"
            ),
        ),
    ),
    Panel(
        "Stage breakdown (all namespaces)",
        "Mean wall time of each stage of a job, every job.",
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
        "Retries (all namespaces)",
        "Segment pods that failed and were retried, and stalled segments restarted.",
        "short",
        (
            _q(f"sum(increase(videojob_segment_retries_total[{RATE}]))", "retries"),
            _q(f"sum(increase(videojob_stalled_segments_total[{RATE}]))", "stalled"),
        ),
    ),
    Panel(
        "Queue time p95 (pod pending, all namespaces)",
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
        "Operator health",
        "Scrape status of the operator, its failed reconciliations (api: an API call failed; internal: a bug) "
        "and failed API calls.",
        "short",
        (
            _q(OPERATOR_UP, "up {{instance}}"),
            _q(f"sum by (kind) (increase(videojob_reconcile_errors_total[{RATE}]))", "reconcile errors: {{kind}}"),
            _q(f"sum by (source) (increase(videojob_api_errors_total[{RATE}]))", "API errors: {{source}}"),
        ),
    ),
    Panel(
        "GPU utilisation (our pods)",
        "DCGM exporter: SM utilisation of each GPU a chosen job's worker pod holds.",
        "percent",
        (_q(f"avg by (namespace, pod, gpu) (DCGM_FI_DEV_GPU_UTIL{{{PODS}}})", "{{pod}} GPU {{gpu}}"),),
        dcgm=True,
    ),
    Panel(
        "NVENC / NVDEC utilisation (our pods)",
        "DCGM exporter: video encoder and decoder engines of the GPUs the chosen jobs' worker pods hold.",
        "percent",
        (
            _q(f"avg by (namespace, pod, gpu) (DCGM_FI_DEV_ENC_UTIL{{{PODS}}})", "{{pod}} GPU {{gpu}} enc"),
            _q(f"avg by (namespace, pod, gpu) (DCGM_FI_DEV_DEC_UTIL{{{PODS}}})", "{{pod}} GPU {{gpu}} dec"),
        ),
        dcgm=True,
    ),
    Panel(
        "GPU memory used (our pods)",
        "DCGM exporter: frame buffer used on the GPUs the chosen jobs' worker pods hold.",
        "decmbytes",
        (_q(f"sum by (namespace, pod) (DCGM_FI_DEV_FB_USED{{{PODS}}})", "{{pod}}"),),
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
        .description(
            "videojob operator: jobs by namespace and name, throughput, failures, stage and segment times, "
            "retries, queue time, operator health, and the GPUs of our worker pods."
        )
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(_variable("namespace", "Namespace", "label_values(videojob_job_info, namespace)"))
        .with_variable(_variable("job", "VideoJob", f"label_values(videojob_job_info{{{NS}}}, videojob)"))
    )
    for a in ANNOTATIONS:
        board = board.annotation(
            dashboard.AnnotationQuery().name(a.name).datasource(DS).enable(True).icon_color(a.color)
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
    built = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build()))
    # Prometheus annotation fields the SDK's AnnotationQuery has no setters for: the value is the event's time.
    for entry, a in zip(built["annotations"]["list"][-len(ANNOTATIONS) :], ANNOTATIONS, strict=True):
        entry.update({"expr": a.expr, "titleFormat": a.title, "useValueForTime": True, "step": "60s"})
        entry["tagKeys"] = "namespace,videojob"
    return built


def _variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


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
