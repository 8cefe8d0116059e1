"""The daily refresh flow under Prefect's test harness, with a real webhook receiver."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness

from churnmesh import publication, status
from churnmesh.orchestration import journal
from churnmesh.orchestration.flows import (
    STALE,
    backfill_flow,
    daily_refresh,
    failure_message,
    review_change_flow,
    schedule_gap,
)
from churnmesh.orchestration.notify import WEBHOOK_ENV
from churnmesh.orchestration.operations import model_intervals
from churnmesh.orchestration.refresh import WarehouseRefreshFailed, refresh_warehouse
from churnmesh.orchestration.server import UI_URL_ENV
from churnmesh.settings import DataPaths
from churnmesh.warehouse import copy_project
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import query, withdraw_files
from tests.webhook import Receiver, webhook_receiver


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with webhook_receiver(200) as running:
        monkeypatch.setenv(WEBHOOK_ENV, running.url)
        yield running


def _kinds(receiver: Receiver) -> list[tuple[str, str]]:
    return [(p["churnmesh"]["kind"], p["churnmesh"]["as_of"]) for p in receiver.received]


def test_two_days_alert_high_risk_moves_once_and_publish_the_summary(
    scored_base: Scored, tmp_path: Path, receiver: Receiver
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    data_dir = str(scored.paths.root)
    day1, day2 = SCORED_AS_OF + timedelta(days=1), SCORED_AS_OF + timedelta(days=2)
    for day in (day1, day2):
        run = daily_refresh(as_of=day, data_dir=data_dir)
        assert run["refresh"]["status"] == "success" and not run["refresh"]["failures"]
    moved = query(
        scored.paths.warehouse,
        "SELECT as_of_date, count(*) FROM marts.mart_churn_risk_transitions WHERE churn_risk_level = 'high' "
        "GROUP BY 1 ORDER BY 1",
    )
    high_alerts = [p["churnmesh"] for p in receiver.received if p["churnmesh"]["kind"] == "high_risk_transition"]
    # customers to act on, and those who churned (moved to high by definition) counted apart
    counted = [(a["as_of"], a["data"]["customers"] + a["data"]["churned_customers"]) for a in high_alerts]
    assert counted == [(d.isoformat(), n) for d, n in moved]
    assert moved, "the test data should move someone into high risk on one of the two days"
    sent_before = len(receiver.received)
    rerun = daily_refresh(as_of=day2, data_dir=data_dir)
    assert len(receiver.received) == sent_before, "rerunning a day must not repeat its alerts"
    assert rerun["delivery"]["delivered"] == []
    report = Path(rerun["report"]).read_text()
    assert f"# Daily refresh for {day2}" in report and "Top 20 customers by revenue at risk" in report
    html_report = Path(rerun["html_report"])
    assert html_report.is_file() and f"]({html_report.name})" in report, "the summary links the day's HTML report"
    scores = query(scored.paths.warehouse, "SELECT count(DISTINCT as_of_date) FROM scoring.churn_scores")
    assert scores == [(3,)]
    published = query(publication.published_path(scored.paths), "SELECT as_of_date FROM churnmesh.about")
    assert published == [(day2,)], "each run publishes what it built for the dashboard and the MCP server"
    found = status.describe(scored.paths)
    assert found.healthy, found.lines
    assert f"prod: built as of {day2}" in found.lines
    assert f"churn model scoring prod: {scored.trained.version}" in found.lines
    last = next(line for line in found.lines if line.startswith("last run:"))
    assert last.startswith(f"last run: daily-refresh '{rerun['run_name']}' for {day2}, completed at "), last
    assert "(started " in last, "the run's start is journaled too"
    assert f"alerts: {len(receiver.received)} delivered, 0 not delivered" in " ".join(found.lines)


def test_an_empty_warehouse_gets_the_prod_plan_then_the_run(clean_landing: Path, tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "data")
    shutil.copytree(clean_landing, paths.landing)
    run = daily_refresh(as_of=date(2024, 2, 15), data_dir=str(paths.root))
    assert run["refresh"]["planned_prod"] is True
    assert run["ingestion"]["rows_loaded"] > 0
    (customers,) = query(paths.warehouse, "SELECT count(*) FROM marts.mart_customer_360")[0]
    assert customers > 0
    outbox = paths.root / "notifications" / "outbox.jsonl"  # no webhook configured here
    kinds = (
        {json.loads(line)["churnmesh"]["kind"] for line in outbox.read_text().splitlines()}
        if outbox.exists()
        else set()
    )
    assert "audit_failure" not in kinds and "run_failed" not in kinds


def test_a_blocking_audit_failure_fails_the_flow_and_alerts(
    clean_landing: Path, tmp_path: Path, receiver: Receiver
) -> None:
    project = copy_project(tmp_path / "project")
    mart = project / "models" / "marts" / "mart_churn_risk.sql"
    # Passes for the first day, fails from the next: the nightly run path, not the plan.
    failing_audit = "accepted_range(column := as_of_date, max_v := '2024-02-15'),"
    audits = "unique_values(columns := (customer_id)),"
    mart.write_text(mart.read_text().replace(audits, f"{audits}\n    {failing_audit}"))
    paths = DataPaths(tmp_path / "data")
    shutil.copytree(clean_landing, paths.landing)
    daily_refresh(as_of=date(2024, 2, 15), data_dir=str(paths.root), project=str(project))
    with pytest.raises(WarehouseRefreshFailed, match="accepted_range"):
        daily_refresh(as_of=date(2024, 2, 16), data_dir=str(paths.root), project=str(project))
    failures = [p["churnmesh"] for p in receiver.received if p["churnmesh"]["kind"] == "audit_failure"]
    assert len(failures) == 1
    assert "mart_churn_risk" in failures[0]["data"]["model"] and failures[0]["data"]["failing_rows"] > 0
    assert ("run_failed", "2024-02-16") in _kinds(receiver)
    found = status.describe(paths)
    assert not found.healthy
    at = next(i for i, line in enumerate(found.lines) if line.startswith("last run:"))
    assert "daily-refresh" in found.lines[at] and "for 2024-02-16, failed at" in found.lines[at], found.lines
    assert "accepted_range" in found.lines[at + 1] and "Traceback" not in found.lines[at + 1]


def test_a_backfill_fills_exactly_the_requested_days_and_restates_on_request(
    scored_base: Scored, tmp_path: Path
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    data_dir = str(scored.paths.root)
    daily = "intermediate.int_customer_daily_metrics"
    assert model_intervals(scored.paths, daily)[-1][1] == SCORED_AS_OF
    next_day = SCORED_AS_OF + timedelta(days=1)
    result = backfill_flow(start=next_day, end=next_day, data_dir=data_dir)
    assert model_intervals(scored.paths, daily)[-1][1] == next_day  # not the day after, whose file is there too
    assert {e["model"] for e in result["evaluations"]} >= {daily}
    restated = backfill_flow(
        start=SCORED_AS_OF - timedelta(days=5),
        end=SCORED_AS_OF - timedelta(days=3),
        models=["core.fct_orders"],
        restate=True,
        data_dir=data_dir,
    )
    orders = [e for e in restated["evaluations"] if e["model"].endswith("core.fct_orders")]
    assert orders and all(e["interval_start"] >= str(SCORED_AS_OF - timedelta(days=5 + 7)) for e in orders)
    with pytest.raises(ValueError, match="unknown model"):
        backfill_flow(start=next_day, end=next_day, models=["raw.orders; DROP TABLE raw.orders"], data_dir=data_dir)


def test_a_change_is_reviewed_in_dev_with_a_diff_of_the_changed_marts(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    project = copy_project(tmp_path / "project")
    mart = project / "models" / "marts" / "mart_churn_risk.sql"
    mart.write_text(mart.read_text().replace("l.risk_score / 100.0,", "l.risk_score / 200.0,"))
    before = query(scored.paths.warehouse, "SELECT sum(rule_revenue_at_risk_usd) FROM marts.mart_churn_risk")
    review = review_change_flow("dev", str(scored.paths.root), str(project))
    line = next(row for row in review.splitlines() if row.startswith("| marts.mart_churn_risk |"))
    compared, differing = (int(cell.strip().replace(",", "")) for cell in line.split("|")[2:4])
    assert compared > 0 and 0 < differing <= compared
    assert "marts.mart_customer_360" in review  # downstream of the change, listed as changed
    after = query(scored.paths.warehouse, "SELECT sum(rule_revenue_at_risk_usd) FROM marts.mart_churn_risk")
    assert after == before, "prod must not change before promotion"
    assert f"(as of {SCORED_AS_OF}, execution time {SCORED_AS_OF + timedelta(days=1)}T00:00:00" in review
    assert "- scoring.churn_scores is unchanged: promotion keeps prod's scores" in review
    # The environment already holds the change: a second review still reports it.
    again = review_change_flow("dev", str(scored.paths.root), str(project))
    assert "- marts.mart_churn_risk" in again.splitlines() and "none" not in again.split("## Churn")[0]


def test_a_review_says_what_a_threshold_change_does_to_the_score_history(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    project = copy_project(tmp_path / "project")
    config = project / "project.yaml"
    config.write_text(config.read_text().replace("risk_high_threshold: 70", "risk_high_threshold: 60"))
    review = review_change_flow("dev", str(scored.paths.root), str(project))
    assert "- scoring.churn_scores" in review.splitlines()
    assert "- scoring.churn_scores changes forward-only: promotion keeps prod's 1 scored day(s)" in review


def test_a_day_on_stale_data_publishes_and_ends_failed_named_stale(
    scored_base: Scored, tmp_path: Path, receiver: Receiver
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    lagging = [f"device_sessions/{SCORED_AS_OF + timedelta(days=n)}.csv" for n in (1, 2)]
    withdraw_files(scored.paths.warehouse, scored.paths.landing, lagging)  # two days behind the others
    state = daily_refresh(data_dir=str(scored.paths.root), return_state=True)
    assert state.is_failed() and state.name == STALE
    assert state.message.startswith(f"published as of {SCORED_AS_OF} on stale data: device_sessions: "), state.message
    assert ("freshness", SCORED_AS_OF.isoformat()) in _kinds(receiver), "its alerts are sent"
    assert "run_failed" not in {kind for kind, _ in _kinds(receiver)}, "the freshness alert says it already"
    (last,) = [r.latest for r in journal.runs(scored.paths)][-1:]
    assert last.state == "STALE" and "device_sessions" in last.message
    assert last.run_name.startswith(f"daily-refresh {SCORED_AS_OF} "), "named for the watermark it ran up to"
    found = status.describe(scored.paths)
    assert not found.healthy and any(
        line.startswith("last run: daily-refresh") and ", stale at " in line for line in found.lines
    )
    summaries = sorted(scored.paths.outputs.glob(f"daily_refresh_{SCORED_AS_OF}_*.md"))
    assert "- **stale**: device_sessions: " in summaries[-1].read_text()


def test_a_failed_backfill_alerts_with_its_range_message_and_run(
    scored_base: Scored, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    monkeypatch.setenv(UI_URL_ENV, "http://127.0.0.1:4200")
    start, end = SCORED_AS_OF + timedelta(days=2), SCORED_AS_OF + timedelta(days=9)
    state = backfill_flow(start=start, end=end, data_dir=str(scored.paths.root), return_state=True)
    assert state.is_failed()
    (alert,) = [p for p in receiver.received if p["churnmesh"]["kind"] == "run_failed"]
    title, lines = alert["churnmesh"]["title"], alert["churnmesh"]["lines"]
    assert title.startswith(f"backfill for {start} to {end} failed: backfill end {end} is past the data: "), title
    assert "Traceback" not in alert["text"] and "encountered an exception" not in alert["text"]
    assert lines[0].startswith(f"flow run: backfill {start}..{end} ")
    assert lines[1].startswith("see the run: http://127.0.0.1:4200/runs/flow-run/") and len(lines) == 2


def test_a_failure_message_is_the_error_on_one_line() -> None:
    raised = SimpleNamespace(message="Flow run encountered an exception: KeyError: 'orders'")
    assert failure_message(raised) == "KeyError: 'orders'"
    traceback = SimpleNamespace(message='Traceback (most recent call last):\n  File "x.py"\nOSError: disk full')
    assert failure_message(traceback) == "OSError: disk full"
    assert len(failure_message(SimpleNamespace(message="x" * 2_000))) == 500


def test_a_scheduled_run_behind_its_day_is_a_schedule_gap() -> None:
    started = datetime(2026, 1, 5, 2, 30, tzinfo=UTC)
    scheduled = SimpleNamespace(auto_scheduled=True, expected_start_time=started)
    (gap,) = schedule_gap(date(2026, 1, 2), scheduled)
    assert gap.kind == "schedule_gap" and gap.as_of == date(2026, 1, 4)
    assert "2 day(s) behind, so 2026-01-03 to 2026-01-04 were not refreshed" in gap.title
    assert schedule_gap(date(2026, 1, 4), scheduled) == []
    assert schedule_gap(date(2026, 1, 2), SimpleNamespace(auto_scheduled=False, expected_start_time=started)) == []


class _BrokenListener:
    def __getattr__(self, name: str) -> Any:
        def broken(*args: object) -> None:
            raise RuntimeError(f"{name} is broken")

        return broken


def test_a_broken_listener_fails_no_batch_and_rows_are_counted_from_the_tables(
    scored_base: Scored, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    day = SCORED_AS_OF + timedelta(days=1)
    with caplog.at_level(logging.WARNING, "churnmesh.sqlmesh"):
        result = refresh_warehouse(scored.paths, day, listener=_BrokenListener())
    assert result.status == "success" and "the batch listener failed on batch_finished" in caplog.text
    (daily,) = [e for e in result.evaluations if e["model"] == "intermediate.int_customer_daily_metrics"]
    counted = query(
        scored.paths.warehouse,
        "SELECT count(*) FROM intermediate.int_customer_daily_metrics WHERE activity_date BETWEEN ? AND ?",
        [date.fromisoformat(str(daily["interval_start"])), date.fromisoformat(str(daily["interval_end"]))],
    )
    assert daily["interval_end"] == day.isoformat() and daily["rows"] == counted[0][0] > 0
    (segments,) = [e for e in result.evaluations if e["model"] == "marts.mart_customer_segments"]
    assert segments["rows"] == query(scored.paths.warehouse, "SELECT count(*) FROM marts.mart_customer_segments")[0][0]
    views = [e for e in result.evaluations if e["model"].startswith("staging.")]
    assert views and all(e["rows"] is None for e in views)
