"""The Markdown table of one benchmark run."""

from __future__ import annotations

from typing import Any

ROWS = (
    ("generation_seconds", "Generation", "s"),
    ("ingestion_seconds", "Ingestion", "s"),
    ("ingestion_rows_per_second", "Ingestion throughput", "rows/s"),
    ("ingestion_peak_rss_mb", "Ingestion peak memory", "MB"),
    ("first_build_seconds", "First full build (sqlmesh plan into empty prod)", "s"),
    ("training_seconds", "Churn model training", "s"),
    ("scoring_seconds", "Scoring (plan prod with the model)", "s"),
    ("full_pipeline_seconds", "Full pipeline (ingestion + build + training + scoring)", "s"),
    ("new_day_seconds", "One new day, daily refresh flow, full history", "s"),
    ("new_day_90_days_seconds", "One new day, daily refresh flow, 90 days of history", "s"),
    ("history_cost_ratio", "Full-history day / 90-day day", "x"),
    ("backfill_one_month_seconds", "One-month restatement through SQLMesh intervals", "s"),
    ("lookup_p50_ms", "Customer lookup in mart_customer_360, p50", "ms"),
    ("lookup_p95_ms", "Customer lookup in mart_customer_360, p95", "ms"),
    ("aggregation_median_ms", "Segment aggregation, median of 20", "ms"),
    ("publication_seconds", "Publishing the marts for readers", "s"),
    ("dashboard_first_render_max_seconds", "Slowest dashboard page, first render (reads the publication)", "s"),
    ("dashboard_render_max_seconds", "Slowest dashboard page, next render", "s"),
    ("cli_help_seconds", "`churnmesh --help` from the shell, median of 5", "s"),
    ("cli_lookup_seconds", "`churnmesh query customer ID` from the shell, median of 5", "s"),
    ("floor_seconds", "Floor: DuckDB reads every raw table once", "s"),
    ("build_to_floor_ratio", "First build / floor", "x"),
    ("peak_rss_gb", "Peak resident memory of the run", "GB"),
)


def markdown_report(result: dict[str, Any]) -> str:
    metrics, targets = result["metrics"], result["targets"]
    rows = result["order_and_session_rows"]
    lines = [
        f"## Benchmark {result['scale']}: {result['description']}",
        "",
        f"{rows:,} order and session rows; measured {result['measured_at']} on {result['machine']['cpus']} CPUs"
        f"{_load(result['machine'])}.",
        "",
        "| Measure | Value | Target |",
        "|---|---:|---:|",
    ]
    for key, label, unit in ROWS:
        lines.append(f"| {label} | {_value(metrics.get(key), unit)} | {_target(key, metrics, targets, unit)} |")
    lines += ["", "Slowest models per phase (seconds, batches):", ""]
    for name, models in result["profile"].items():
        described = ", ".join(f"{m['model']} {m['seconds']} s/{m['batches']}" for m in models[:5])
        lines.append(f"- {name}: {described or 'no model batches'}")
    return "\n".join(lines) + "\n"


def _value(value: object, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and value >= 100:
        return f"{value:,.0f} {unit}"
    if isinstance(value, int):
        return f"{value:,} {unit}"
    return f"{value} {unit}"


def _target(key: str, metrics: dict[str, Any], targets: dict[str, Any], unit: str) -> str:
    if key not in targets:
        return ""
    value, target = metrics.get(key), targets[key]
    verdict = "n/a" if value is None else ("met" if value <= target else "missed")
    return f"<= {target} {unit} ({verdict})"


def _load(machine: dict[str, Any]) -> str:
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    return f" (1-minute load average {start[0]} at the start, {end[0]} at the end)" if start and end else ""
