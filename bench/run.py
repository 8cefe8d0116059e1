"""`python -m bench.run --scale M`: the whole pipeline at one scale, measured in one process.

Phases, in order, on the same cached data: generation (cached per scale), ingestion of every file
up to the day before the last, the first full build (`sqlmesh plan` into an empty prod), scoring
(training the churn model, then planning prod with it), one new day through the daily refresh flow
with the full history and with a warehouse holding only the last 90 days of events, a one-month
restatement through SQLMesh intervals, mart query latency, and the floor (plain DuckDB reading every
raw table once). Results go to bench/results/<scale>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from bench.measure import Phase, peak_resident_bytes, percentile, phase
from bench.report import markdown_report
from bench.scales import SCALES, TARGETS, Scale
from churnmesh import publication
from churnmesh.contracts import SOURCES
from churnmesh.generator import generate
from churnmesh.ingestion import ingest
from churnmesh.orchestration.operations import backfill
from churnmesh.orchestration.refresh import EvaluationRecorder
from churnmesh.scoring import artifacts
from churnmesh.scoring.train_warehouse import train_from_warehouse
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import copy_project, execution_time, plan_environment, sqlmesh_context

BENCH_ROOT = Path(__file__).resolve().parent
SHORT_HISTORY_DAYS = 90
BACKFILL_DAYS = 30
LOOKUPS = 200
AGGREGATIONS = 20
CLI_RUNS = 5
DAILY_METRICS = "intermediate.int_customer_daily_metrics"
# Sources that describe state (who the customer is, what they subscribe to) are kept whole in the
# short-history warehouse; only event sources are cut to the last 90 days.
EVENT_SOURCES = {"orders", "device_sessions", "support_tickets", "loyalty_balances"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="M")
    parser.add_argument("--work", type=Path, default=BENCH_ROOT / ".cache", help="cached data and warehouses")
    parser.add_argument("--out", type=Path, default=BENCH_ROOT / "results", help="where results are written")
    args = parser.parse_args(argv)
    result = run(SCALES[args.scale], args.work / args.scale)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.scale}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.scale}.md").write_text(markdown_report(result))
    print(markdown_report(result))
    return 0


def run(scale: Scale, work: Path) -> dict[str, Any]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    load_at_start = os.getloadavg()
    phases: dict[str, Phase] = {}
    landing = cached_landing(scale, work / "landing", phases)
    new_day = scale.end
    built_day = new_day - timedelta(days=1)
    full = fresh_paths(work / "full")
    stage_landing(landing, full.landing, until=built_day)
    rows = measure_ingestion(full, phases)
    profiles = {"first_build": measure_build(full, built_day, phases)}
    version = measure_scoring(full, built_day, phases, profiles)
    short, short_project = prepare_short_history(landing, work, new_day, version)
    profiles.update(measure_new_day(full, short, short_project, landing, new_day, phases))
    profiles["backfill"] = measure_backfill(full, new_day, phases)
    queries = measure_queries(full.warehouse, phases)
    queries |= measure_dashboard(full, phases)
    queries |= measure_cli(full, phases)
    floor = measure_floor(full.warehouse, phases)
    result = summarise(scale, phases, rows, queries, floor, profiles, version)
    # Other work on the machine slows every phase: the load averages say whether it was quiet.
    result["machine"]["load_average_at_start"] = [round(x, 2) for x in load_at_start]
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def fresh_paths(root: Path) -> DataPaths:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return DataPaths(root.resolve())


def cached_landing(scale: Scale, landing: Path, phases: dict[str, Phase]) -> Path:
    """Generated files are kept between runs; the generation time of the run that made them is kept too."""
    config = scale.generator_config()
    params = {
        "customers": config.customers,
        "start": str(config.start),
        "end": str(config.end),
        "seed": config.seed,
        "session_rate_scale": config.session_rate_scale,
    }
    record = landing.parent / "generation.json"
    if record.exists() and json.loads(record.read_text()).get("params") == params and landing.is_dir():
        cached = json.loads(record.read_text())
        phases["generation"] = Phase("generation", cached["seconds"], details={**cached["details"], "cached": True})
        print(f"[bench] generation: cached ({cached['seconds']:.1f} s when generated)", flush=True)
        return landing
    shutil.rmtree(landing, ignore_errors=True)
    with phase("generation", phases) as record_phase:
        generated = generate(config, landing)
        record_phase.details = {"rows": sum(generated.rows.values()), "files": generated.files, "cached": False}
        record_phase.details["rows_by_source"] = dict(generated.rows)
    done = phases["generation"]
    record.write_text(json.dumps({"params": params, "seconds": done.seconds, "details": done.details}, indent=2))
    return landing


def stage_landing(source: Path, target: Path, until: date, events_since: date | None = None) -> int:
    """Link the landing files dated up to `until` (events from `events_since`) into `target`."""
    linked = 0
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for path in sorted(folder.iterdir()):
            day = date.fromisoformat(path.name[:10])
            too_old = events_since is not None and folder.name in EVENT_SOURCES and day < events_since
            if day > until or too_old:
                continue
            link = target / folder.name / path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.symlink(path.resolve(), link)
                linked += 1
    return linked


def measure_ingestion(paths: DataPaths, phases: dict[str, Phase]) -> dict[str, int]:
    with phase("ingestion", phases) as record:
        report = ingest(paths.landing, paths.warehouse)
    rows_in = report.total("rows_in")
    record.details = {
        "files": len(report.outcomes),
        "rows_in": rows_in,
        "rows_loaded": report.total("rows_loaded"),
        "rows_per_second": round(rows_in / record.seconds) if record.seconds else None,
    }
    return raw_row_counts(paths.warehouse)


def raw_row_counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {s.name: con.execute(f"SELECT count(*) FROM raw.{s.name}").fetchone()[0] for s in SOURCES}
    finally:
        con.close()


def plan_prod(
    paths: DataPaths, as_of: date, churn_model: str | None = None, project: Path = PROJECT_ROOT
) -> list[dict[str, object]]:
    """`sqlmesh plan prod` (applied, the as-of day rescored when the churn model changes) and a run
    up to `as_of`; returns the model batches evaluated."""
    recorder = EvaluationRecorder()
    plan_environment(paths, "prod", as_of, churn_model, project, console=recorder)
    with sqlmesh_context(paths, project=project, churn_model=churn_model, console=recorder) as context:
        context.run(execution_time=execution_time(as_of))
    return recorder.evaluations


def measure_build(paths: DataPaths, as_of: date, phases: dict[str, Phase]) -> list[dict[str, object]]:
    with phase("first_build", phases) as record:
        evaluations = plan_prod(paths, as_of)
    record.details = {"model_batches": len(evaluations)}
    return top_models(evaluations)


def measure_scoring(paths: DataPaths, as_of: date, phases: dict[str, Phase], profiles: dict[str, Any]) -> str | None:
    """Train the churn model, then plan prod with it (churn scores, CLV, revenue at risk, marts)."""
    try:
        with phase("training", phases) as record:
            trained = train_from_warehouse(paths, as_of)
        record.details = {"version": trained.version, "chosen": trained.card.get("chosen_model")}
    except ValueError as exc:  # too little history to train on (the 1-year scale)
        phases.pop("training", None)
        phases["training"] = Phase("training", details={"skipped": str(exc)})
        print(f"[bench] training skipped: {exc}", flush=True)
        return None
    with phase("scoring", phases) as record:
        evaluations = plan_prod(paths, as_of, churn_model=trained.version)
    record.details = {"model_batches": len(evaluations)}
    profiles["scoring"] = top_models(evaluations)
    return trained.version


def prepare_short_history(landing: Path, work: Path, new_day: date, version: str | None) -> tuple[DataPaths, Path]:
    """A warehouse that holds only the last 90 days of events, built up to the day before `new_day`
    with the same churn model, from a project whose history starts 90 days back."""
    start = new_day - timedelta(days=SHORT_HISTORY_DAYS)
    project = work / "short_project"
    shutil.rmtree(project, ignore_errors=True)
    copy_project_from(project, history_start=start)
    short = fresh_paths(work / "short")
    stage_landing(landing, short.landing, until=new_day - timedelta(days=1), events_since=start)
    drop_orphan_refunds(short.landing)
    print(f"[bench] preparing the {SHORT_HISTORY_DAYS}-day warehouse (not timed) ...", flush=True)
    ingest(short.landing, short.warehouse)
    plan_prod(short, new_day - timedelta(days=1), project=project)
    if version is not None:
        source = artifacts.version_dir(DataPaths(work.resolve() / "full"), version)
        shutil.copytree(source, artifacts.version_dir(short, version))
        plan_prod(short, new_day - timedelta(days=1), churn_model=version, project=project)
    return short, project


def drop_orphan_refunds(landing: Path) -> int:
    """A business whose exports start 90 days back has no refunds of orders from before then.
    Cutting a longer history leaves such refunds, which make net lifetime value negative and fail
    its audit; the files holding them are replaced by copies without them."""
    files = sorted((landing / "orders").iterdir())
    frames = {path: pd.read_csv(path, dtype=str, keep_default_na=False) for path in files}
    known = set().union(*(set(frame["order_id"]) for frame in frames.values()))
    dropped = 0
    for path, frame in frames.items():
        orphan = (frame["original_order_id"] != "") & ~frame["original_order_id"].isin(known)
        if orphan.any():
            path.unlink()
            frame[~orphan].to_csv(path, index=False)
            dropped += int(orphan.sum())
    return dropped


def copy_project_from(target: Path, history_start: date) -> None:
    """The project, with its history starting at `history_start`."""
    copy_project(target)
    config = target / "project.yaml"
    text = config.read_text()
    marker = "start: &history_start '"
    current = text.split(marker, 1)[1].split("'", 1)[0]
    config.write_text(text.replace(f"{marker}{current}'", f"{marker}{history_start}'"))


def measure_new_day(
    full: DataPaths, short: DataPaths, short_project: Path, landing: Path, new_day: date, phases: dict[str, Phase]
) -> dict[str, Any]:
    """One new day's files through the daily refresh flow on a running Prefect server."""
    from churnmesh.orchestration.server import api_url, start_server, stop

    os.environ["PREFECT_HOME"] = str(full.root / "prefect")
    port = free_port()
    server = start_server(full, port)
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from churnmesh.orchestration.flows import daily_refresh

        with temporary_settings({PREFECT_API_URL: api_url(port)}):
            profiles = {}
            short_start = new_day - timedelta(days=SHORT_HISTORY_DAYS)
            runs = (
                ("new_day_full_history", full, PROJECT_ROOT, None),
                ("new_day_90_days", short, short_project, short_start),
            )
            for name, paths, project, events_since in runs:
                stage_landing(landing, paths.landing, until=new_day, events_since=events_since)
                if events_since is not None:
                    drop_orphan_refunds(paths.landing)
                with phase(name, phases) as record:
                    result = daily_refresh(as_of=new_day, data_dir=str(paths.root), project=str(project))
                evaluations = result["refresh"]["evaluations"]
                record.details = {"model_batches": len(evaluations), "rows_in": result["ingestion"]["rows_in"]}
                record.details["sqlmesh_seconds"] = round(sum(float(e["seconds"]) for e in evaluations), 3)
                profiles[name] = top_models(evaluations)
            # Send the flows' buffered logs while the server still listens.
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=30)
    finally:
        stop(server)
    return profiles


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure_backfill(paths: DataPaths, new_day: date, phases: dict[str, Phase]) -> list[dict[str, object]]:
    """Restate the daily metrics (and everything downstream) over one month of SQLMesh intervals."""
    end = new_day - timedelta(days=31)
    start = end - timedelta(days=BACKFILL_DAYS - 1)
    with phase("backfill_one_month", phases) as record:
        result = backfill(paths, start, end, [DAILY_METRICS], restate=True)
    record.details = {"start": str(start), "end": str(end), "model_batches": len(result.evaluations)}
    return top_models(result.evaluations)


def measure_queries(warehouse: Path, phases: dict[str, Phase]) -> dict[str, float]:
    """A BI tool's two typical queries on mart_customer_360, on a read-only connection."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        with phase("queries", phases):
            ids = [r[0] for r in con.execute("SELECT customer_id FROM marts.mart_customer_360").fetchall()]
            sample = random.Random(7).sample(ids, min(LOOKUPS, len(ids)))
            lookups = [timed(con, "SELECT * FROM marts.mart_customer_360 WHERE customer_id = ?", [c]) for c in sample]
            aggregation = """
                SELECT rfm_segment, churn_risk_level, count(*) AS customers, sum(monetary_usd) AS revenue,
                       sum(revenue_at_risk_usd) AS revenue_at_risk, avg(churn_probability) AS mean_probability
                FROM marts.mart_customer_360 GROUP BY ALL"""
            aggregations = [timed(con, aggregation, []) for _ in range(AGGREGATIONS)]
    finally:
        con.close()
    return {
        "lookup_p50_ms": round(percentile(lookups, 0.50), 2),
        "lookup_p95_ms": round(percentile(lookups, 0.95), 2),
        "aggregation_median_ms": round(statistics.median(aggregations), 2),
        "customers": len(ids),
    }


def measure_dashboard(paths: DataPaths, phases: dict[str, Phase]) -> dict[str, Any]:
    """Publishing for readers, then every dashboard page rendered by Streamlit's AppTest: the first
    render (reading the publication) and the next one (from the cache), in seconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from churnmesh.dashboard import APP, PAGES

    with phase("publication", phases):
        publication.publish(paths)
    os.environ["CHURNMESH_DATA_DIR"] = str(paths.root)
    app = AppTest.from_file(str(APP), default_timeout=300)
    app.run()
    first, again = {}, {}
    with phase("dashboard", phases):
        for script, title, _, _ in PAGES:
            # Each page's first render reads the publication, nothing from another page's caches.
            st.cache_data.clear()
            st.cache_resource.clear()
            first[title] = _render_seconds(app.switch_page(script))
            again[title] = _render_seconds(app)
            if app.exception:
                raise RuntimeError(f"dashboard page {title}: {app.exception[0].value}")
    return {
        "publication_seconds": phases["publication"].seconds,
        "dashboard_first_render_max_seconds": round(max(first.values()), 3),
        "dashboard_render_max_seconds": round(max(again.values()), 3),
        "dashboard_first_render_seconds": first,
    }


def measure_cli(paths: DataPaths, phases: dict[str, Phase]) -> dict[str, float]:
    """The `churnmesh` command as a user runs it from the shell, a new process each time: `--help`
    and a customer lookup on the warehouse, median of CLI_RUNS wall times each."""
    churnmesh = str(Path(sys.executable).parent / "churnmesh")
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        (customer,) = con.execute("SELECT min(customer_id) FROM marts.mart_customer_360").fetchone()
    finally:
        con.close()
    env = {**os.environ, "CHURNMESH_DATA_DIR": str(paths.root)}
    with phase("cli", phases):
        help_runs = [_command_seconds([churnmesh, "--help"], env) for _ in range(CLI_RUNS)]
        lookup_runs = [_command_seconds([churnmesh, "query", "customer", customer], env) for _ in range(CLI_RUNS)]
    return {
        "cli_help_seconds": round(statistics.median(help_runs), 3),
        "cli_lookup_seconds": round(statistics.median(lookup_runs), 3),
    }


def _command_seconds(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _render_seconds(app: Any) -> float:
    started = time.perf_counter()
    app.run()
    return round(time.perf_counter() - started, 3)


def timed(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> float:
    started = time.perf_counter()
    con.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


def measure_floor(warehouse: Path, phases: dict[str, Phase]) -> dict[str, float]:
    """Plain DuckDB reading every raw table once, every column, with one aggregate per table."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        with phase("floor", phases):
            for source in SOURCES:
                con.execute(f"SELECT bit_xor(hash(t)) FROM raw.{source.name} AS t").fetchall()
    finally:
        con.close()
    return {"seconds": phases["floor"].seconds}


def top_models(evaluations: list[dict[str, object]], limit: int = 8) -> list[dict[str, object]]:
    """Where a build's time goes: seconds and batches per model, slowest first."""
    by_model: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        model = str(evaluation["model"])
        entry = by_model.setdefault(model, {"model": model, "seconds": 0.0, "batches": 0})
        entry["seconds"] += float(evaluation["seconds"])
        entry["batches"] += 1
    ranked = sorted(by_model.values(), key=lambda e: -e["seconds"])[:limit]
    return [{**e, "seconds": round(e["seconds"], 2)} for e in ranked]


def summarise(
    scale: Scale,
    phases: dict[str, Phase],
    raw_rows: dict[str, int],
    queries: dict[str, float],
    floor: dict[str, float],
    profiles: dict[str, Any],
    version: str | None,
) -> dict[str, Any]:
    seconds = {name: p.seconds for name, p in phases.items()}
    pipeline = seconds["ingestion"] + seconds["first_build"] + seconds.get("training", 0) + seconds.get("scoring", 0)
    full_day, short_day = seconds["new_day_full_history"], seconds["new_day_90_days"]
    metrics = {
        "generation_seconds": seconds["generation"],
        "ingestion_seconds": seconds["ingestion"],
        "ingestion_rows_per_second": phases["ingestion"].details["rows_per_second"],
        "ingestion_peak_rss_mb": phases["ingestion"].peak_rss_mb,
        "first_build_seconds": seconds["first_build"],
        "training_seconds": seconds.get("training"),
        "scoring_seconds": seconds.get("scoring"),
        "full_pipeline_seconds": round(pipeline, 3),
        "new_day_seconds": full_day,
        "new_day_90_days_seconds": short_day,
        "history_cost_ratio": round(full_day / short_day, 3),
        "backfill_one_month_seconds": seconds["backfill_one_month"],
        **queries,
        "floor_seconds": floor["seconds"],
        "build_to_floor_ratio": round(seconds["first_build"] / floor["seconds"], 1) if floor["seconds"] else None,
        "peak_rss_gb": round(peak_resident_bytes() / 2**30, 2),
    }
    return {
        "scale": scale.name,
        "description": scale.description,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "data": {"customers": scale.customers, "start": str(scale.start), "end": str(scale.end), "raw_rows": raw_rows},
        "order_and_session_rows": raw_rows.get("orders", 0) + raw_rows.get("device_sessions", 0),
        "churn_model_version": version,
        "metrics": metrics,
        "targets": TARGETS.get(scale.name, {}),
        "phases": {name: vars(p) for name, p in phases.items()},
        "profile": profiles,
    }


if __name__ == "__main__":
    raise SystemExit(main())
