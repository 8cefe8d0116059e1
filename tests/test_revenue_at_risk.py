"""Revenue at risk is one figure: every mart, summary and `churnmesh query` gives the same total
over open customers, and the value of churned customers is reported apart as lost. Campaigns
follow the live churn model's level and revenue at risk, and the rules only without a model."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnmesh.cli import main
from churnmesh.ingestion import ingest
from churnmesh.orchestration.summary import run_summary_markdown
from churnmesh.revenue_at_risk import risk_totals
from churnmesh.settings import DataPaths, business_definitions
from churnmesh.summary import print_risk_summary
from churnmesh.warehouse import build_prod
from tests.conftest import SCORED_AS_OF, Scored
from tests.helpers import query

UNSCORED_AS_OF = date(2024, 2, 28)
# What run_summary_markdown needs of a flow run besides the warehouse: nothing happened.
QUIET_RUN = {
    "ingestion": {
        "files_loaded": 0,
        "files_rejected": 0,
        "files_skipped": 0,
        "files_refused": [],
        "rows_in": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "rows_duplicate": 0,
    },
    "refresh": {"status": "success", "evaluations": [], "failures": []},
    "delivery": {"delivered": [], "already_sent": [], "undelivered": []},
    "alerts": [],
}


def _mart(warehouse: Path, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"SELECT * FROM marts.{name}").df()
    finally:
        con.close()


def _sum(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].astype(float).sum())


@pytest.fixture(scope="module")
def unscored(clean_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """A warehouse built without a churn model: campaigns must fall back to the rules."""
    paths = DataPaths(tmp_path_factory.mktemp("unscored") / "data")
    shutil.copytree(clean_landing, paths.landing)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, UNSCORED_AS_OF)
    return paths


def test_every_mart_and_summary_gives_the_same_revenue_at_risk(
    scored_base: Scored, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = scored_base.paths.warehouse
    risk = _mart(warehouse, "mart_churn_risk")
    total = _sum(risk, "revenue_at_risk_usd")
    lost = _sum(risk, "lost_clv_usd")
    assert total > 0 and lost > 0, "the test data should have open customers at risk and churned ones"
    for mart in ("mart_revenue_at_risk_by_segment", "mart_customer_360", "mart_clv"):
        assert _sum(_mart(warehouse, mart), "revenue_at_risk_usd") == pytest.approx(total, abs=0.01), mart
    for mart in ("mart_customer_360", "mart_clv"):
        assert _sum(_mart(warehouse, mart), "lost_clv_usd") == pytest.approx(lost, abs=0.01), mart

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        totals = risk_totals(con, SCORED_AS_OF)
        markdown = run_summary_markdown(con, SCORED_AS_OF, QUIET_RUN)
    finally:
        con.close()
    assert (totals.revenue_at_risk_usd, totals.lost_clv_usd) == (pytest.approx(total), pytest.approx(lost))
    assert totals.open_customers == int((risk["lifecycle_stage"] != "churned").sum())
    assert f"${total:,.0f} over {totals.open_customers:,} open customers" in markdown
    assert f"${lost:,.0f}" in markdown

    print_risk_summary(warehouse)
    printed = capsys.readouterr().out
    assert f"${total:,.0f} over {totals.open_customers:,} open customers" in printed
    assert f"value lost to churn (predicted CLV of {totals.churned_customers:,} churned customers): ${lost:,.0f}" in (
        printed
    )

    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(scored_base.paths.root))
    assert main(["query", "segment", "--by", "lifecycle_stage", "--format", "json"]) == 0
    segments = json.loads(capsys.readouterr().out)
    assert sum(s["revenue_at_risk_usd"] for s in segments) == pytest.approx(total, abs=0.01)
    assert sum(s["lost_clv_usd"] for s in segments) == pytest.approx(lost, abs=0.01)


def test_churned_customers_have_nothing_at_risk_and_their_value_is_lost(scored_base: Scored) -> None:
    risk = _mart(scored_base.paths.warehouse, "mart_churn_risk")
    churned = risk[risk["lifecycle_stage"] == "churned"]
    assert len(churned) and (churned["churn_probability"] == 1).all()  # the model counts them lost
    assert (churned["revenue_at_risk_usd"] == 0).all() and (churned["rule_revenue_at_risk_usd"] == 0).all()
    assert churned["lost_clv_usd"].astype(float).tolist() == pytest.approx(churned["predicted_clv_usd"].round(2))
    open_customers = risk[risk["lifecycle_stage"] != "churned"]
    assert (open_customers["lost_clv_usd"] == 0).all()
    expected = (open_customers["churn_probability"] * open_customers["predicted_clv_usd"]).round(2)
    assert open_customers["revenue_at_risk_usd"].tolist() == pytest.approx(expected.tolist(), abs=0.005)


def test_the_readmes_example_returns_the_top_open_customers(scored_base: Scored) -> None:
    top = query(
        scored_base.paths.warehouse,
        "SELECT lifecycle_stage, revenue_at_risk_usd FROM marts.mart_churn_risk "
        "ORDER BY revenue_at_risk_usd DESC LIMIT 10",
    )
    assert len(top) == 10 and all(stage != "churned" and at_risk > 0 for stage, at_risk in top)


def _expected_retention(frame: pd.DataFrame, level: str, at_risk: str) -> pd.Series:
    """The retention rule of project.yaml, computed here from the mart's columns."""
    floor = float(business_definitions()["retention_min_revenue_at_risk_usd"])
    at_stake = frame[level].isin(["high", "medium"]) | (frame[at_risk].astype(float) >= floor)
    return (frame["lifecycle_stage"] != "churned") & at_stake


def test_with_a_live_model_campaigns_follow_its_level_and_value(scored_base: Scored) -> None:
    customers = _mart(scored_base.paths.warehouse, "mart_customer_360")
    assert (customers["campaign_risk_basis"] == "model").all()
    assert customers["campaign_risk_level"].equals(customers["churn_risk_level"])
    expected = _expected_retention(customers, "churn_risk_level", "revenue_at_risk_usd")
    assert customers["eligible_retention_campaign"].tolist() == expected.tolist()
    # The rules would decide otherwise for some: the test means something only if they disagree.
    by_rules = _expected_retention(customers, "risk_level", "revenue_at_risk_usd")
    assert (expected != by_rules).any()
    assert not (customers["eligible_premium_campaign"] & customers["eligible_retention_campaign"]).any()
    assert (customers.loc[customers["eligible_premium_campaign"], "churn_risk_level"] == "low").all()
    top = customers.sort_values(["revenue_at_risk_usd", "customer_id"], ascending=[False, True]).head(20)
    assert top["eligible_retention_campaign"].all() and not top["eligible_premium_campaign"].any()


def test_without_a_model_campaigns_fall_back_to_the_rules(unscored: DataPaths) -> None:
    customers = _mart(unscored.warehouse, "mart_customer_360")
    assert customers["churn_probability"].isna().all() and (customers["campaign_risk_basis"] == "rules").all()
    assert customers["campaign_risk_level"].equals(customers["risk_level"])
    risk = _mart(unscored.warehouse, "mart_churn_risk").set_index("customer_id")
    proxy = customers["customer_id"].map(risk["rule_revenue_at_risk_usd"])
    assert customers["campaign_revenue_at_risk_usd"].tolist() == pytest.approx(proxy.tolist())
    expected = _expected_retention(customers, "risk_level", "campaign_revenue_at_risk_usd")
    assert customers["eligible_retention_campaign"].tolist() == expected.tolist() and expected.any()
