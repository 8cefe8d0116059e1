"""The MCP server, through the SDK's own clients: in memory for every tool, and one real stdio session.

Each tool's answer is checked against the warehouse itself (its prod views, not the publication
the server reads), mostly through another mart or metric than the one the tool reads, so a
publication that drifted from prod, or a tool that reads the wrong column, fails here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pandas as pd
import pytest
from mcp import Client, StdioServerParameters

from churnmesh import answers
from churnmesh.contracts import pii_kept_out_of_marts
from churnmesh.mcp_server import build_server
from churnmesh.settings import PROJECT_ROOT, business_definitions
from tests.conftest import SCORED_AS_OF, Scored

TOOLS = {
    "list_kpis",
    "get_kpi",
    "top_root_causes",
    "churned_customers",
    "top_at_risk",
    "customer_profile",
    "revenue_at_risk",
    "cohort_retention",
    "app_version_impact",
    "explain_definition",
    "model_card",
}


def call(paths_root: Path, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Call tools in one in-memory session; each result is its structured content, or the error text."""
    from churnmesh.settings import DataPaths

    server = build_server(DataPaths(paths_root))

    async def session() -> list[Any]:
        results = []
        async with Client(server) as client:
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                results.append(("error", result.content[0].text) if result.is_error else result.structured_content)
        return results

    return anyio.run(session)


def ask(scored: Scored, tool: str, **arguments: Any) -> dict[str, Any]:
    (result,) = call(scored.paths.root, (tool, arguments))
    assert not (isinstance(result, tuple) and result[0] == "error"), result
    return result


def refused(scored: Scored, tool: str, **arguments: Any) -> str:
    (result,) = call(scored.paths.root, (tool, arguments))
    assert isinstance(result, tuple) and result[0] == "error", f"{tool}{arguments} was answered: {result}"
    return result[1]


@pytest.fixture(scope="module")
def prod(scored_base: Scored) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse itself, read-only: the reference the answers are checked against."""
    con = duckdb.connect(str(scored_base.paths.warehouse), read_only=True)
    yield con
    con.close()


def frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_every_tool_is_listed_with_a_description_and_read_only(scored_base: Scored) -> None:
    server = build_server(scored_base.paths)

    async def listing() -> list[Any]:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = anyio.run(listing)
    assert {t.name for t in tools} == TOOLS
    for listed in tools:
        assert listed.description and len(listed.description) > 40, listed.name
        assert listed.annotations.read_only_hint is True, listed.name
        assert listed.output_schema is not None, listed.name


def test_answers_say_what_day_they_describe(scored_base: Scored) -> None:
    answer = ask(scored_base, "get_kpi", name="customers")
    assert answer["as_of_date"] == SCORED_AS_OF.isoformat()
    assert answer["data_watermark"] >= answer["as_of_date"]
    assert answer["churn_model_version"] == scored_base.trained.version


def test_kpi_totals_equal_the_marts_and_metrics(scored_base: Scored, prod: duckdb.DuckDBPyConnection) -> None:
    c360 = frame(prod, "SELECT * FROM marts.mart_customer_360")
    ltv = frame(prod, "SELECT ltv_usd FROM metrics.metric_customer_ltv")
    purchases = frame(
        prod,
        f"SELECT amount_usd FROM core.fct_orders WHERE order_type = 'purchase' AND order_date <= DATE '{SCORED_AS_OF}'",
    )
    churn_risk = frame(prod, "SELECT revenue_at_risk_usd, lost_clv_usd FROM marts.mart_churn_risk")
    as_of = pd.Timestamp(SCORED_AS_OF)
    churned = c360[c360.lifecycle_stage == "churned"]
    expected = {
        "customers": len(c360),
        "active_customers": int((c360.lifecycle_stage == "active").sum()),
        "churned_customers": len(churned),
        "churned_last_30_days": int((pd.to_datetime(churned.churned_date) > as_of - pd.Timedelta(days=30)).sum()),
        "churned_last_90_days": int((pd.to_datetime(churned.churned_date) > as_of - pd.Timedelta(days=90)).sum()),
        "ltv_usd": ltv.ltv_usd.mean(),
        "total_revenue_usd": ltv.ltv_usd.sum(),
        "atv_usd": purchases.amount_usd.astype(float).mean(),
        "predicted_clv_usd": c360.predicted_clv_usd.sum(),
        "revenue_at_risk_usd": churn_risk.revenue_at_risk_usd.sum(),
        "lost_to_churn_usd": churn_risk.lost_clv_usd.sum(),
    }
    results = call(scored_base.paths.root, *(("get_kpi", {"name": name}) for name in expected))
    for (name, value), result in zip(expected.items(), results, strict=True):
        assert result["rows"][0]["value"] == pytest.approx(value, abs=0.006), name
    assert 0 < expected["churned_last_30_days"] <= expected["churned_last_90_days"] <= expected["churned_customers"]


def test_a_kpi_by_segment_adds_up_and_one_segment_is_its_row(scored_base: Scored) -> None:
    total, by_tier, premium = call(
        scored_base.paths.root,
        ("get_kpi", {"name": "revenue_at_risk_usd"}),
        ("get_kpi", {"name": "revenue_at_risk_usd", "segment": "plan_tier"}),
        ("get_kpi", {"name": "revenue_at_risk_usd", "segment": "plan_tier=premium"}),
    )
    rows = {r["plan_tier"]: r for r in by_tier["rows"]}
    assert sum(r["value"] for r in rows.values()) == pytest.approx(total["rows"][0]["value"], abs=0.05)
    assert premium["rows"][0] == {"value": rows["premium"]["value"], "customers": rows["premium"]["customers"]}


def test_monthly_spend_kpis_equal_the_metric(scored_base: Scored, prod: duckdb.DuckDBPyConnection) -> None:
    spend = frame(prod, "SELECT month_start, spend_usd, prior_month_spend_usd FROM metrics.metric_mom_spend_change")
    june = spend[pd.to_datetime(spend.month_start) == pd.Timestamp("2025-06-01")]
    change = 100 * (june.spend_usd.sum() - june.prior_month_spend_usd.sum()) / june.prior_month_spend_usd.sum()
    series, one, buyers = call(
        scored_base.paths.root,
        ("get_kpi", {"name": "net_order_spend_usd", "period": "monthly"}),
        ("get_kpi", {"name": "mom_spend_change_pct", "period": "2025-06"}),
        ("get_kpi", {"name": "buyers", "period": "2025-06"}),
    )
    assert one["rows"][0]["value"] == pytest.approx(change, abs=0.006)
    assert buyers["rows"][0]["value"] == int((june.spend_usd > 0).sum())
    by_month = spend.groupby(pd.to_datetime(spend.month_start).dt.date).spend_usd.sum()
    assert {r["month"]: r["value"] for r in series["rows"]} == pytest.approx(
        {m.isoformat(): round(v, 2) for m, v in by_month.items()}, abs=0.006
    )
    assert series["rows"][0]["month"] == "2025-07-01"  # newest first: the as-of month


def test_top_root_causes_last_month_are_the_marts_top_rows(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    expected = prod.execute(
        "SELECT root_cause, product_category, tickets, share_open FROM marts.mart_top_root_causes "
        "WHERE period_type = 'month' AND period_start = DATE '2025-07-01' "
        "ORDER BY tickets DESC, root_cause, product_category LIMIT 5"
    ).fetchall()
    answer = ask(scored_base, "top_root_causes", period="last_month", n=5)
    assert answer["period_start"] == "2025-07-01"  # July is complete on the as-of date, 2025-07-31
    got = [(r["root_cause"], r["product_category"], r["tickets"], r["share_open"]) for r in answer["rows"]]
    assert got == expected
    category = expected[0][1]
    in_category = ask(scored_base, "top_root_causes", period="2025-07", n=50, category=category)
    assert {r["product_category"] for r in in_category["rows"]} == {category}


def test_the_last_complete_period_before_an_as_of_date() -> None:
    assert answers._last_complete(date(2025, 7, 31), quarterly=False) == ("month", "2025-07-01")
    assert answers._last_complete(date(2025, 7, 30), quarterly=False) == ("month", "2025-06-01")
    assert answers._last_complete(date(2025, 1, 15), quarterly=False) == ("month", "2024-12-01")
    assert answers._last_complete(date(2025, 9, 30), quarterly=True) == ("quarter", "2025-07-01")
    assert answers._last_complete(date(2025, 9, 29), quarterly=True) == ("quarter", "2025-04-01")


def test_churned_customers_are_those_who_churned_in_the_window(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    c360 = frame(prod, "SELECT customer_id, lifecycle_stage, churned_date, lost_clv_usd FROM marts.mart_customer_360")
    window = c360[
        (c360.lifecycle_stage == "churned")
        & (pd.to_datetime(c360.churned_date) > pd.Timestamp(SCORED_AS_OF - timedelta(days=90)))
    ]
    answer = ask(scored_base, "churned_customers", window_days=90, limit=500, order_by="churned_date")
    assert answer["total_rows"] == len(window) > 0
    assert {r["customer_id"] for r in answer["rows"]} == set(window.customer_id)
    assert answer["total_lost_clv_usd"] == pytest.approx(window.lost_clv_usd.sum(), abs=0.01)
    days = [r["churned_date"] for r in answer["rows"]]
    assert days == sorted(days, reverse=True)
    top = ask(scored_base, "churned_customers", window_days=90, limit=3)
    assert [r["lost_clv_usd"] for r in top["rows"]] == sorted(window.lost_clv_usd, reverse=True)[:3]
    assert top["truncated"] is True


def test_top_at_risk_ranks_open_customers_as_the_churn_risk_mart(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    expected = prod.execute(
        "SELECT customer_id, churn_probability, revenue_at_risk_usd FROM marts.mart_churn_risk "
        "WHERE lifecycle_stage <> 'churned' ORDER BY revenue_at_risk_usd DESC, customer_id LIMIT 10"
    ).fetchall()
    answer = ask(scored_base, "top_at_risk", n=10)
    assert [(r["customer_id"], r["churn_probability"], r["revenue_at_risk_usd"]) for r in answer["rows"]] == expected
    assert all(r["churn_reasons"] for r in answer["rows"])
    high = ask(scored_base, "top_at_risk", n=500, level="high")
    assert {r["churn_risk_level"] for r in high["rows"]} <= {"high"}


def test_customer_profile_is_the_360_row_with_its_score_history(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    row = frame(prod, "SELECT * FROM marts.mart_customer_360 ORDER BY revenue_at_risk_usd DESC LIMIT 1").iloc[0]
    answer = ask(scored_base, "customer_profile", customer_id=row.customer_id)
    profile = answer["rows"][0]
    assert profile["churn_probability"] == pytest.approx(row.churn_probability)
    assert profile["churn_reasons"] == row.churn_reasons
    assert profile["predicted_clv_usd"] == pytest.approx(row.predicted_clv_usd)
    assert [h["as_of_date"] for h in answer["score_history"]] == [SCORED_AS_OF.isoformat()]
    assert "no customer C9999999" in refused(scored_base, "customer_profile", customer_id="C9999999")


def test_revenue_at_risk_by_segment_equals_the_segment_mart(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    mart = dict(
        prod.execute(
            "SELECT value_tier, sum(revenue_at_risk_usd)::DOUBLE FROM marts.mart_revenue_at_risk_by_segment GROUP BY 1"
        ).fetchall()
    )
    answer = ask(scored_base, "revenue_at_risk", by="value_tier")
    got = {r["value_tier"]: r["revenue_at_risk_usd"] for r in answer["rows"]}
    assert got == pytest.approx(mart, abs=0.01)
    assert answer["total_revenue_at_risk_usd"] == pytest.approx(sum(mart.values()), abs=0.05)


def test_cohort_retention_and_app_versions_are_the_marts_rows(
    scored_base: Scored, prod: duckdb.DuckDBPyConnection
) -> None:
    curve = prod.execute(
        "SELECT months_since_acquisition, retention_rate FROM marts.mart_retention_cohorts "
        "WHERE cohort_month = DATE '2024-03-01' ORDER BY 1"
    ).fetchall()
    answer = ask(scored_base, "cohort_retention", cohort="2024-03")
    assert [(r["months_since_acquisition"], r["retention_rate"]) for r in answer["rows"]] == curve
    overview = ask(scored_base, "cohort_retention")
    march = next(r for r in overview["rows"] if r["cohort_month"] == "2024-03-01")
    assert march["month_3"] == dict(curve)[3]
    version, rate = prod.execute(
        "SELECT app_version, tickets_per_100_users FROM marts.mart_app_version_impact "
        "WHERE app_version IS NOT NULL ORDER BY app_version LIMIT 1"
    ).fetchone()
    assert ask(scored_base, "app_version_impact", version=version)["rows"][0]["tickets_per_100_users"] == rate


def test_definitions_come_from_the_config(scored_base: Scored) -> None:
    variables = business_definitions()
    risk = ask(scored_base, "explain_definition", term="Risk levels")["rows"][0]
    assert risk["values"] == {
        "risk_high_threshold": variables["risk_high_threshold"],
        "risk_medium_threshold": variables["risk_medium_threshold"],
    }
    assert "high >=" in risk["definition"]
    clv = ask(scored_base, "explain_definition", term="clv_horizon")["rows"][0]
    assert clv["values"]["clv_horizon_days"] == variables["clv_horizon_days"]
    assert (
        "churned_date"
        in ask(scored_base, "explain_definition", term="churned in the last 30 days")["rows"][0]["definition"]
    )


def test_the_model_card_is_the_live_models(scored_base: Scored) -> None:
    card = ask(scored_base, "model_card")["rows"][0]
    assert card["model_version"] == scored_base.trained.version
    assert card["card"]["test"]["roc_auc"] == pytest.approx(scored_base.trained.card["test"]["roc_auc"])


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("get_kpi", {"name": "happiness"}, "name: one of customers"),
        ("get_kpi", {"name": "customers", "segment": "value_tier=platinum"}, "no customers with value_tier"),
        ("get_kpi", {"name": "customers", "segment": "shoe_size"}, "unknown segment dimension 'shoe_size'"),
        ("get_kpi", {"name": "predicted_clv_usd", "period": "2025-06"}, "is a snapshot"),
        ("get_kpi", {"name": "buyers", "period": "2031-01"}, "months with spend run from"),
        ("get_kpi", {"name": "buyers", "period": "June"}, "not a month"),
        ("top_at_risk", {"n": 10**9}, "n: not a positive whole number from 1 to 500"),
        ("top_at_risk", {"n": 0}, "n: not a positive whole number"),
        ("top_at_risk", {"level": "extreme"}, "level: one of high, medium, low"),
        ("top_root_causes", {"period": "2025-13"}, "not a month"),
        ("top_root_causes", {"period": "2025-Q5"}, "not a quarter"),
        ("top_root_causes", {"category": "cars"}, "category: one of"),
        ("churned_customers", {"window_days": -5}, "window_days: not a positive whole number"),
        ("churned_customers", {"order_by": "customer_id; DROP TABLE x"}, "order_by: one of"),
        ("churned_customers", {"segment": "plan_tier"}, "dimension=value"),
        ("customer_profile", {"customer_id": "C0000001' OR '1'='1"}, "not a customer id"),
        ("customer_profile", {"customer_id": "x" * 10_000}, "too long"),
        ("revenue_at_risk", {"by": "region; DROP TABLE x"}, "unknown segment dimension"),
        ("cohort_retention", {"cohort": "1999-01"}, "cohorts run from"),
        ("app_version_impact", {"version": "9.9.9"}, "no app version 9.9.9"),
        ("app_version_impact", {"version": "4.5.0' --"}, "not an app version"),
        ("explain_definition", {"term": "happiness"}, "known terms are"),
        ("top_at_risk", {"n": "ten"}, "validation error"),
    ],
)
def test_bad_arguments_get_a_clear_tool_error(
    scored_base: Scored, tool: str, arguments: dict[str, Any], message: str
) -> None:
    assert message in refused(scored_base, tool, **arguments)


def test_an_injected_segment_value_is_data_not_sql(scored_base: Scored, prod: duckdb.DuckDBPyConnection) -> None:
    hostile = "high' OR '1'='1"
    assert "no customers with value_tier" in refused(
        scored_base, "get_kpi", name="customers", segment=f"value_tier={hostile}"
    )
    assert prod.execute("SELECT count(*) FROM marts.mart_clv").fetchone()[0] > 0


def test_no_answer_carries_a_personal_data_column(scored_base: Scored) -> None:
    customer = ask(scored_base, "top_at_risk", n=1)["rows"][0]["customer_id"]
    results = call(
        scored_base.paths.root,
        ("customer_profile", {"customer_id": customer}),
        ("churned_customers", {"window_days": 365, "limit": 500}),
        ("top_at_risk", {"n": 500}),
        ("top_root_causes", {"n": 500}),
        ("app_version_impact", {}),
        ("model_card", {}),
    )
    keys = set().union(*(_keys(r) for r in results))
    assert keys & set(pii_kept_out_of_marts()) == set()
    assert "customer_id" in keys  # the walk does reach the rows


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


def test_schemas_are_resources_with_column_descriptions(scored_base: Scored) -> None:
    server = build_server(scored_base.paths)

    async def read() -> tuple[list[str], dict[str, Any]]:
        async with Client(server) as client:
            listed = json.loads((await client.read_resource("churnmesh://tables")).contents[0].text)
            schema = await client.read_resource("churnmesh://schema/marts.mart_churn_risk")
            return listed, json.loads(schema.contents[0].text)

    tables, schema = anyio.run(read)
    assert "marts.mart_customer_360" in tables and "scoring.churn_scores" in tables
    described = {c["column_name"]: c["description"] for c in schema["columns"]}
    assert described["revenue_at_risk_usd"].startswith("churn_probability x predicted_clv_usd")
    assert "revenue at risk" in schema["description"]


def test_a_data_folder_without_a_publication_says_what_to_run(tmp_path: Path) -> None:
    (result,) = call(tmp_path, ("list_kpis", {}))
    assert result[0] == "error" and "run `churnmesh pipeline` first" in result[1]


def test_a_stdio_session_with_churnmesh_mcp(scored_base: Scored) -> None:
    """`churnmesh mcp` as an assistant starts it: a subprocess speaking MCP on stdin and stdout."""
    executable = Path(sys.executable).with_name("churnmesh")
    server = StdioServerParameters(
        command=str(executable),
        args=["mcp"],
        env={"CHURNMESH_DATA_DIR": str(scored_base.paths.root), "PATH": os.environ["PATH"]},
        cwd=str(PROJECT_ROOT),
    )

    async def session() -> tuple[set[str], Any, Any]:
        async with Client(server, read_timeout_seconds=60) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            kpi = await client.call_tool("get_kpi", {"name": "churned_last_90_days"})
            bad = await client.call_tool("customer_profile", {"customer_id": "nobody"})
            return tools, kpi, bad

    tools, kpi, bad = anyio.run(session)
    assert tools == TOOLS
    assert not kpi.is_error and kpi.structured_content["as_of_date"] == SCORED_AS_OF.isoformat()
    assert kpi.structured_content["rows"][0]["value"] > 0
    assert bad.is_error and "not a customer id" in bad.content[0].text
