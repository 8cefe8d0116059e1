"""Every dashboard page through Streamlit's AppTest: no exception, and the figures it shows equal the
same figures computed from the warehouse itself (not from the publication the dashboard reads)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from churnmesh.dashboard import APP, PAGES
from churnmesh.dashboard.views import shown
from tests.conftest import SCORED_AS_OF, Scored, scored_copy

PAGE = {title: path for path, title, _, _ in PAGES}


@pytest.fixture(scope="module")
def scored(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> Scored:
    """A copy: the campaign export writes into the data folder's outputs."""
    return scored_copy(scored_base, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def prod(scored: Scored) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(scored.paths.warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture
def app(scored: Scored, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(scored.paths.root))
    test = AppTest.from_file(str(APP), default_timeout=60)
    test.run()
    return test


def open_page(app: AppTest, title: str) -> AppTest:
    app.switch_page(PAGE[title]).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def customers(prod: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return prod.execute(
        "SELECT c.*, v.historical_clv_usd FROM marts.mart_customer_360 AS c "
        "JOIN marts.mart_clv AS v USING (customer_id)"
    ).df()


def test_every_page_renders_and_says_what_day_it_shows(app: AppTest) -> None:
    for _, title, _, _ in PAGES:
        page = open_page(app, title)
        assert page.title[0].value == title
        assert f"As of {SCORED_AS_OF}" in page.caption[0].value


def test_overview_figures_equal_the_marts(app: AppTest, prod: duckdb.DuckDBPyConnection) -> None:
    c360 = customers(prod)
    churned = c360[c360.lifecycle_stage == "churned"]
    since = pd.Timestamp(SCORED_AS_OF)
    purchases = prod.execute(
        "SELECT avg(amount_usd)::DOUBLE FROM core.fct_orders "
        f"WHERE order_type = 'purchase' AND order_date <= DATE '{SCORED_AS_OF}'"
    ).fetchone()[0]
    expected = {
        "Customers": shown(len(c360), "customers"),
        "Active": shown(int((c360.lifecycle_stage == "active").sum()), "customers"),
        "Churned, last 30 days": shown(
            int((pd.to_datetime(churned.churned_date) > since - pd.Timedelta(days=30)).sum()), "customers"
        ),
        "Churned, last 90 days": shown(
            int((pd.to_datetime(churned.churned_date) > since - pd.Timedelta(days=90)).sum()), "customers"
        ),
        "Revenue to date": shown(float(c360.historical_clv_usd.sum()), "usd"),
        "LTV (mean)": shown(float(c360.historical_clv_usd.mean()), "usd"),
        "ATV": shown(purchases, "usd"),
        "Predicted CLV": shown(float(c360.predicted_clv_usd.sum()), "usd"),
        "Revenue at risk": shown(float(c360.revenue_at_risk_usd.sum()), "usd"),
        "Lost to churn": shown(float(c360.lost_clv_usd.sum()), "usd"),
    }
    shown_now = metrics(open_page(app, "Overview"))
    assert {k: shown_now[k] for k in expected} == expected
    assert "Spend vs last month" in shown_now


def test_segment_filters_combine_and_the_table_adds_up(app: AppTest, prod: duckdb.DuckDBPyConnection) -> None:
    c360 = customers(prod)
    region = sorted(c360.region.dropna().unique())[0]
    page = open_page(app, "Segments")
    page.multiselect(key="segments_value_tier").set_value(["high", "medium"])
    page.multiselect(key="segments_region").set_value([region])
    page.selectbox(key="segments_by").set_value("plan_tier")
    page.run()
    assert not page.exception
    chosen = c360[c360.value_tier.isin(["high", "medium"]) & (c360.region == region)]
    table = page.dataframe[0].value.set_index("plan_tier")
    expected = chosen.groupby("plan_tier").agg(
        customers=("customer_id", "size"), revenue_at_risk_usd=("revenue_at_risk_usd", "sum")
    )
    assert metrics(page)["Customers selected"] == f"{len(chosen):,}"
    assert table.customers.to_dict() == expected.customers.to_dict()
    assert table.revenue_at_risk_usd.to_dict() == pytest.approx(expected.revenue_at_risk_usd.to_dict())


def test_customer_360_shows_the_customers_row(app: AppTest, prod: duckdb.DuckDBPyConnection) -> None:
    row = customers(prod).sort_values("revenue_at_risk_usd", ascending=False).iloc[3]
    page = open_page(app, "Customer 360")
    page.text_input(key="customer_id").input(row.customer_id).run()
    shown_now = metrics(page)
    assert shown_now["Churn probability"] == f"{row.churn_probability:.0%}"
    assert shown_now["Predicted CLV"] == shown(float(row.predicted_clv_usd), "usd")
    assert shown_now["Revenue at risk"] == shown(float(row.revenue_at_risk_usd), "usd")
    assert shown_now["Lifecycle"] == row.lifecycle_stage
    assert row.churn_reasons in page.markdown[0].value
    months = page.dataframe[0].value
    sessions, revenue = prod.execute(
        "SELECT (SELECT count(*) FROM core.fct_sessions WHERE customer_id = $1 AND session_date <= $2), "
        "(SELECT ltv_usd FROM metrics.metric_customer_ltv WHERE customer_id = $1)",
        [row.customer_id, SCORED_AS_OF],
    ).fetchone()
    assert int(months.sessions.sum()) == sessions
    assert float(months.net_revenue_usd.sum()) == pytest.approx(float(revenue), abs=0.01)
    page.text_input(key="customer_id").input("C0000000' OR 1=1").run()
    assert not page.exception and "not a customer id" in page.warning[0].value


def test_churn_risk_ranks_as_the_churn_risk_mart_and_shows_the_card(
    app: AppTest, prod: duckdb.DuckDBPyConnection, scored: Scored
) -> None:
    expected = [
        c
        for (c,) in prod.execute(
            "SELECT customer_id FROM marts.mart_churn_risk WHERE lifecycle_stage <> 'churned' "
            "ORDER BY revenue_at_risk_usd DESC, customer_id LIMIT 20"
        ).fetchall()
    ]
    page = open_page(app, "Churn risk")
    assert page.dataframe[0].value.customer_id.tolist() == expected
    assert metrics(page)["ROC-AUC"] == f"{scored.trained.card['test']['roc_auc']:.3f}"


def test_cohorts_page_draws_its_charts(app: AppTest) -> None:
    page = open_page(app, "Cohorts")
    assert len(page.get("vega_lite_chart")) == 4


def test_support_shows_last_months_root_causes(app: AppTest, prod: duckdb.DuckDBPyConnection) -> None:
    expected = prod.execute(
        "SELECT root_cause, product_category, tickets FROM marts.mart_top_root_causes "
        "WHERE period_type = 'month' AND period_start = DATE '2025-07-01' "
        "ORDER BY tickets DESC, root_cause, product_category LIMIT 10"
    ).fetchall()
    page = open_page(app, "Support")
    table = page.dataframe[0].value
    assert list(table[["root_cause", "product_category", "tickets"]].itertuples(index=False, name=None)) == expected
    spikes = prod.execute("SELECT app_version FROM marts.mart_app_version_impact WHERE is_ticket_spike").fetchall()
    assert [w.value.split(":")[0] for w in page.warning] == [f"App version {v}" for (v,) in spikes]


def test_the_campaign_simulator_computes_and_exports_with_consent(
    app: AppTest, prod: duckdb.DuckDBPyConnection, scored: Scored
) -> None:
    page = open_page(app, "Campaign simulator")
    page.multiselect(key="campaign_value_tier").set_value(["high"])
    page.multiselect(key="campaign_levels").set_value(["high", "medium", "low"])
    page.number_input(key="campaign_floor").set_value(100.0)
    page.number_input(key="campaign_cost").set_value(5.0)
    page.slider(key="campaign_rate").set_value(0.25)
    page.run()
    assert not page.exception
    c360 = customers(prod)
    chosen = c360[(c360.lifecycle_stage != "churned") & (c360.value_tier == "high") & (c360.predicted_clv_usd >= 100.0)]
    saved = float((chosen.churn_probability * chosen.predicted_clv_usd).sum()) * 0.25
    cost = 5.0 * len(chosen)
    shown_now = metrics(page)
    assert shown_now["Customers targeted"] == f"{len(chosen):,}"
    assert shown_now["Expected saved"] == shown(saved, "usd")
    assert shown_now["Cost"] == shown(cost, "usd")
    assert shown_now["Net value"] == shown(saved - cost, "usd")
    page.button(key="campaign_export").click().run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert "Exported" in page.success[0].value
    out = scored.paths.outputs / f"campaign_simulation_{SCORED_AS_OF}.csv"
    exported = list(csv.DictReader(out.open()))
    assert {r["customer_id"] for r in exported} <= set(chosen.customer_id)
    consenting = _consenting(prod, tuple(chosen.customer_id))
    assert len(exported) == consenting and {r["segment"] for r in exported} == {"simulation"}


def _consenting(prod: duckdb.DuckDBPyConnection, ids: tuple[str, ...]) -> int:
    return prod.execute(
        "SELECT count(*) FROM (SELECT customer_id, arg_max(marketing_opt_in, (exported_on, updated_at)) AS opted "
        f"FROM staging.stg_customers WHERE exported_on <= DATE '{SCORED_AS_OF}' GROUP BY 1) "
        "WHERE opted AND list_contains(?, customer_id)",
        [list(ids)],
    ).fetchone()[0]


def test_without_a_publication_the_dashboard_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(tmp_path))
    page = AppTest.from_file(str(APP), default_timeout=60)
    page.run()
    assert not page.exception
    assert "run `churnmesh pipeline` first" in page.info[0].value
