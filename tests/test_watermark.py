"""The data watermark: nothing runs ahead of the data, whatever date a command, a schedule or the
clock brings, and the defaults are the watermark, not yesterday."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.testing.utilities import prefect_test_harness

from churnmesh import watermark
from churnmesh.contracts import SOURCES
from churnmesh.ingestion import ingest
from churnmesh.orchestration.alerts import freshness
from churnmesh.orchestration.flows import backfill_flow, daily_refresh
from churnmesh.orchestration.operations import model_intervals, run_audits
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import CHURN_MODEL_ENV, execution_time, sqlmesh_context
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import fingerprint, query

CHURNMESH = Path(sys.executable).parent / "churnmesh"
SQLMESH = Path(sys.executable).parent / "sqlmesh"
CLEAN_END = date(2024, 2, 29)  # the last day of the clean_landing fixture
DAILY = "intermediate.int_customer_daily_metrics"
# Every table whose rows are dated: none may describe a day after the watermark.
DATED_TABLES = (
    "intermediate.int_customer_features",
    "marts.mart_churn_risk",
    "marts.mart_customer_360",
    "scoring.churn_scores",
    "scoring.clv_predictions",
)


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _ingested(landing: Path, tmp_path: Path) -> Path:
    warehouse = tmp_path / "warehouse.duckdb"
    ingest(landing, warehouse)
    return warehouse


def _landing_copy(clean_landing: Path, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(clean_landing, landing, ignore=shutil.ignore_patterns("_truth"))
    return landing


def test_the_watermark_is_the_oldest_of_the_sources_newest_usable_days(clean_landing: Path, tmp_path: Path) -> None:
    landing = _landing_copy(clean_landing, tmp_path)
    for day in (CLEAN_END, CLEAN_END - timedelta(days=1)):
        (landing / "device_sessions" / f"{day}.csv").unlink()  # two days late
    (landing / "orders" / f"{CLEAN_END}.csv").write_bytes(b"")  # delivered, but rejected whole
    mark = watermark.of_warehouse(_ingested(landing, tmp_path))
    assert mark.day == CLEAN_END - timedelta(days=2)
    assert mark.frontier == CLEAN_END
    assert mark.behind == ["device_sessions", "orders"]
    assert mark.newest_by_source["orders"] == CLEAN_END - timedelta(days=1)
    assert "data watermark 2024-02-27" in mark.describe() and "device_sessions 2024-02-27" in mark.describe()


def test_no_watermark_until_every_source_has_delivered(clean_landing: Path, tmp_path: Path) -> None:
    landing = _landing_copy(clean_landing, tmp_path)
    shutil.rmtree(landing / "support_tickets")
    warehouse = _ingested(landing, tmp_path)
    mark = watermark.of_warehouse(warehouse)
    assert mark.day is None and mark.behind == ["support_tickets"]
    assert watermark.of_warehouse(tmp_path / "nowhere.duckdb") == watermark.Watermark(None, {})
    with pytest.raises(watermark.AheadOfData, match="no day is complete yet"):
        watermark.check_as_of(None, mark)


def test_an_as_of_past_the_watermark_is_refused_and_none_means_the_watermark() -> None:
    mark = watermark.Watermark(date(2025, 12, 31), {s.name: date(2025, 12, 31) for s in SOURCES})
    assert watermark.check_as_of(None, mark) == date(2025, 12, 31)
    assert watermark.check_as_of(date(2025, 12, 30), mark) == date(2025, 12, 30)
    past = "as-of date 2026-01-01 is past the data: data watermark 2025-12-31"
    with pytest.raises(watermark.AheadOfData, match=past):
        watermark.check_as_of(date(2026, 1, 1), mark)
    with pytest.raises(watermark.AheadOfData, match="backfill end 2030-01-01"):
        watermark.check_as_of(date(2030, 1, 1), mark, "backfill end")


def test_a_late_source_and_a_gap_raise_one_freshness_alert_each(clean_landing: Path, tmp_path: Path) -> None:
    landing = _landing_copy(clean_landing, tmp_path)
    for day in (CLEAN_END, CLEAN_END - timedelta(days=1), CLEAN_END - timedelta(days=2)):
        (landing / "device_sessions" / f"{day}.csv").unlink()  # three days behind the others
    (landing / "orders" / f"{CLEAN_END - timedelta(days=1)}.csv").unlink()  # a gap within the allowance
    (landing / "customers" / f"{CLEAN_END - timedelta(days=10)}.csv").unlink()  # an old gap, reported back then
    con = duckdb.connect(str(_ingested(landing, tmp_path)), read_only=True)
    try:
        alerts = {a.key: a for a in freshness(con, CLEAN_END, allowance_days=1)}
        within_allowance = {a.key for a in freshness(con, CLEAN_END, allowance_days=3)}
    finally:
        con.close()
    assert set(alerts) == {"device_sessions", "orders"}
    assert alerts["device_sessions"].title.startswith("device_sessions: newest file 2024-02-26, 3 days behind")
    assert "holds the data watermark at 2024-02-26" in alerts["device_sessions"].title
    assert alerts["orders"].title == "orders: no usable file for 2024-02-28 (1 of the 2 days to 2024-02-29)"
    assert within_allowance == {"orders"}  # three days late is within a three-day allowance


def _dated_maximum(warehouse: Path) -> dict[str, date]:
    return {t: query(warehouse, f"SELECT max(as_of_date) FROM {t}")[0][0] for t in DATED_TABLES}


def test_a_plain_sqlmesh_run_on_the_clock_stops_at_the_watermark(scored_base: Scored, tmp_path: Path) -> None:
    """`sqlmesh run` from the repo root takes the wall clock (years after the data) as its
    execution time: the signal keeps every model at the watermark, two days after prod's date."""
    scored = scored_copy(scored_base, tmp_path)
    mark = watermark.of_warehouse(scored.paths.warehouse).day
    assert mark == SCORED_AS_OF + timedelta(days=2)
    env = {**os.environ, "CHURNMESH_DATA_DIR": str(scored.paths.root), CHURN_MODEL_ENV: scored.trained.version}
    result = subprocess.run(
        [str(SQLMESH), "run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert set(_dated_maximum(scored.paths.warehouse).values()) == {mark}
    assert model_intervals(scored.paths, DAILY)[-1][1] == mark
    assert model_intervals(scored.paths, "marts.mart_churn_risk")[-1][1] == mark
    unscored = query(
        scored.paths.warehouse,
        "SELECT count(*) FROM marts.mart_churn_risk WHERE churn_probability IS NULL AND lifecycle_stage <> 'churned'",
    )
    assert unscored == [(0,)]


def test_the_daily_refresh_defaults_to_the_watermark_and_refuses_a_later_day(
    scored_base: Scored, tmp_path: Path, prefect_api: None
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    data_dir = str(scored.paths.root)
    mark = SCORED_AS_OF + timedelta(days=2)
    before = fingerprint(scored.paths.warehouse, DATED_TABLES)
    refused = daily_refresh(as_of=mark + timedelta(days=1), data_dir=data_dir, return_state=True)
    assert refused.is_failed()
    assert refused.message.startswith(f"as-of date {mark + timedelta(days=1)} is past the data: data watermark {mark}")
    assert fingerprint(scored.paths.warehouse, DATED_TABLES) == before, "a refused run changes nothing"
    filled = backfill_flow(start=mark, end=mark + timedelta(days=3), data_dir=data_dir, return_state=True)
    assert filled.is_failed() and filled.message.startswith(f"backfill end {mark + timedelta(days=3)} is past the data")

    run = daily_refresh(data_dir=data_dir)
    assert run["as_of"] == mark.isoformat() and not run["nothing_new"]
    assert set(_dated_maximum(scored.paths.warehouse).values()) == {mark}
    again = daily_refresh(data_dir=data_dir)
    assert again["nothing_new"] and again["as_of"] == mark.isoformat()
    reports = sorted(p.name for p in (scored.paths.outputs).glob(f"daily_refresh_{mark}_*.md"))
    assert len(reports) == 2, "each run keeps its own summary"
    assert f"data watermark {mark}" in Path(again["report"]).read_text()


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHURNMESH_DATA_DIR": str(data_dir)}
    return subprocess.run([str(CHURNMESH), *args], capture_output=True, text=True, env=env, timeout=600, check=False)


def test_the_pipeline_command_ends_in_one_line_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    missing = _cli(tmp_path / "data", "pipeline")
    assert missing.returncode == 2
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith("churnmesh pipeline: error: CHURNMESH_DATA_DIR: not a churnmesh data folder (no landing/")
    (tmp_path / "data" / "landing").mkdir(parents=True)
    empty = _cli(tmp_path / "data", "pipeline")
    assert empty.returncode == 1, empty.stderr[-2000:]
    assert "Traceback" not in empty.stderr and "Traceback" not in empty.stdout
    expected = "churnmesh pipeline: no day is complete yet: data watermark none (not every source has delivered a file)"
    assert any(line.startswith(expected) for line in empty.stderr.splitlines()), empty.stderr[-2000:]


def _tamper(paths: DataPaths, model: str, statement: str) -> None:
    """Change a prod table behind SQLMesh's back, as a wrong run or a hand edit would."""
    with sqlmesh_context(paths) as context:
        table = context.table_name(model, "prod")
    con = duckdb.connect(str(paths.warehouse))
    try:
        con.execute(statement.format(table=table))
    finally:
        con.close()


@pytest.mark.parametrize(
    ("model", "statement", "audited_day"),
    [
        # A live model, and a mart whose customers have no score for its day.
        (
            "marts.mart_churn_risk",
            "UPDATE {table} SET churn_probability = NULL WHERE customer_id IN "
            "(SELECT customer_id FROM {table} LIMIT 3)",
            SCORED_AS_OF,
        ),
        # A mart that describes another day than the rest.
        ("marts.mart_clv", "UPDATE {table} SET as_of_date = as_of_date - 1", SCORED_AS_OF),
        # Scores dated past the data.
        (
            "scoring.churn_scores",
            "INSERT INTO {table} SELECT * REPLACE (as_of_date + 30 AS as_of_date) FROM {table} LIMIT 1",
            SCORED_AS_OF + timedelta(days=30),  # an incremental model is audited over its interval
        ),
    ],
    ids=["unscored", "as-of-disagrees", "past-the-watermark"],
)
def test_the_audits_fail_on_a_wrong_prod(
    scored_base: Scored, tmp_path: Path, model: str, statement: str, audited_day: date
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    assert _audit(scored.paths, model, audited_day)
    _tamper(scored.paths, model, statement)
    assert not _audit(scored.paths, model, audited_day)
    assert not run_audits(scored.paths, SCORED_AS_OF) or audited_day != SCORED_AS_OF


def _audit(paths: DataPaths, model: str, day: date) -> bool:
    with sqlmesh_context(paths) as context:
        return bool(context.audit(day, day, models=iter([model]), execution_time=execution_time(day)))
