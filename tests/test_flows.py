"""The daily refresh flow under Prefect's test harness, with a real webhook receiver."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from churnmesh import publication, status
from churnmesh.orchestration.flows import backfill_flow, daily_refresh, review_change_flow
from churnmesh.orchestration.notify import WEBHOOK_ENV
from churnmesh.orchestration.operations import model_intervals
from churnmesh.orchestration.refresh import WarehouseRefreshFailed
from churnmesh.settings import DataPaths
from churnmesh.warehouse import copy_project
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import query
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
    assert {e["model"].split(".", 1)[-1] for e in result["evaluations"]} >= {daily}
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
