"""The monthly activity mart against the facts it summarises, and the KPIs as they stood at each
month end against an independent computation on the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import pytest

from churnmesh import answers
from churnmesh.publication import open_published
from tests.conftest import SCORED_AS_OF, Scored

MONTH_END_KPIS = [k.name for k in answers.KPIS if k.month_end is not None]


@pytest.fixture(scope="module")
def prod(scored_base: Scored) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(scored_base.paths.warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def published(scored_base: Scored) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_published(scored_base.paths)
    yield con
    con.close()


def month_end(month: date) -> date:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return min(following - timedelta(days=1), SCORED_AS_OF)


def test_a_customers_months_add_up_to_their_ltv_sessions_and_tickets(prod: duckdb.DuckDBPyConnection) -> None:
    differences = prod.execute(
        f"""
        WITH months AS (
          SELECT customer_id, sum(net_revenue_usd) AS revenue, sum(purchases) AS purchases,
                 sum(sessions) AS sessions, sum(tickets_opened) AS tickets
          FROM marts.mart_customer_monthly_activity GROUP BY 1
        ), sessions AS (
          SELECT customer_id, count(*) AS sessions FROM core.fct_sessions
          WHERE session_date <= DATE '{SCORED_AS_OF}' GROUP BY 1
        ), tickets AS (
          SELECT customer_id, count(*) AS tickets FROM core.fct_support_tickets
          WHERE opened_date <= DATE '{SCORED_AS_OF}' GROUP BY 1
        )
        SELECT l.customer_id, l.ltv_usd, m.revenue, l.purchases, m.purchases, s.sessions, m.sessions,
               t.tickets, m.tickets
        FROM metrics.metric_customer_ltv AS l
        LEFT JOIN months AS m USING (customer_id)
        LEFT JOIN sessions AS s USING (customer_id)
        LEFT JOIN tickets AS t USING (customer_id)
        WHERE abs(l.ltv_usd - coalesce(m.revenue, 0)) > 0.005
           OR l.purchases <> coalesce(m.purchases, 0)
           OR coalesce(s.sessions, 0) <> coalesce(m.sessions, 0)
           OR coalesce(t.tickets, 0) <> coalesce(m.tickets, 0)
        """
    ).fetchall()
    assert differences == []
    assert prod.execute("SELECT count(*) FROM marts.mart_customer_monthly_activity").fetchone()[0] > 1000


def test_the_as_of_month_equals_the_snapshot_kpi(published: duckdb.DuckDBPyConnection) -> None:
    for name in MONTH_END_KPIS:
        snapshot = answers.get_kpi(published, name)["rows"][0]["value"]
        series = answers.get_kpi(published, name, "monthly")
        latest = series["rows"][0]
        assert latest["month"] == SCORED_AS_OF.replace(day=1).isoformat()
        assert latest["is_partial_month"] is False  # 31 July is the month's last day
        assert latest["value"] == pytest.approx(snapshot, abs=0.01), name


def test_month_end_figures_equal_an_independent_count(
    published: duckdb.DuckDBPyConnection, prod: duckdb.DuckDBPyConnection
) -> None:
    series = {
        name: {r["month"]: r["value"] for r in answers.get_kpi(published, name, "monthly")["rows"]}
        for name in MONTH_END_KPIS
    }
    months = sorted(series["ltv_usd"])
    assert months[0] == answers.history_start().isoformat()  # not before the history the warehouse holds
    assert len(months) == 19
    for month in (months[0], months[len(months) // 2], months[-2]):
        end = month_end(date.fromisoformat(month))
        revenue, amount, purchases = prod.execute(
            "SELECT sum(amount_usd), sum(amount_usd) FILTER (WHERE event_type = 'purchase'), "
            "count(*) FILTER (WHERE event_type = 'purchase') FROM core.fct_revenue WHERE event_date <= ?",
            [end],
        ).fetchone()
        (customers,) = prod.execute(
            "SELECT count(*) FROM marts.mart_customer_360 WHERE signup_date <= ?", [end]
        ).fetchone()
        assert series["customers"][month] == customers, month
        assert series["total_revenue_usd"][month] == pytest.approx(float(revenue), abs=0.01), month
        assert series["ltv_usd"][month] == pytest.approx(float(revenue) / customers, abs=0.01), month
        atv = float(amount) / purchases if purchases else None  # the first month may hold only charges
        assert series["atv_usd"][month] == pytest.approx(atv, abs=0.01), month


def test_a_segment_splits_the_month_end_series(published: duckdb.DuckDBPyConnection) -> None:
    whole = answers.get_kpi(published, "total_revenue_usd", "2025-03")["rows"]
    by_plan = answers.get_kpi(published, "total_revenue_usd", "2025-03", "plan_tier")["rows"]
    assert len(whole) == 1 and len(by_plan) > 1
    assert sum(r["value"] for r in by_plan) == pytest.approx(whole[0]["value"], abs=0.01 * len(by_plan))
    premium = answers.get_kpi(published, "customers", "2025-03", "plan_tier=premium")["rows"]
    (expected,) = published.execute(
        "SELECT count(*) FROM marts.mart_customer_360 WHERE plan_tier = 'premium' AND signup_date <= DATE '2025-03-31'"
    ).fetchone()
    assert premium[0]["value"] == expected > 0


def test_a_month_end_kpi_refuses_what_it_cannot_answer(published: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match=f"months with activity run from {answers.history_start():%Y-%m} to 2025-07"):
        answers.get_kpi(published, "ltv_usd", "2031-01")
    with pytest.raises(ValueError, match="is a snapshot as of the as-of date, not by month; by month: customers"):
        answers.get_kpi(published, "predicted_clv_usd", "monthly")


def test_the_customer_profile_carries_the_months(published: duckdb.DuckDBPyConnection) -> None:
    customer = published.execute(
        "SELECT customer_id FROM marts.mart_customer_monthly_activity GROUP BY 1 ORDER BY sum(sessions) DESC LIMIT 1"
    ).fetchone()[0]
    months = answers.customer_profile(published, customer)["monthly_activity"]
    sessions = published.execute(
        "SELECT sum(sessions) FROM marts.mart_customer_monthly_activity WHERE customer_id = ?", [customer]
    ).fetchone()[0]
    assert sum(m["sessions"] for m in months) == sessions > 0
    assert [m["month_start"] for m in months] == sorted(m["month_start"] for m in months)
    assert "customer_id" not in months[0]


def test_all_month_end_kpis_in_one_pass_equal_each_series(published: duckdb.DuckDBPyConnection) -> None:
    together = answers.month_end_kpis(published)["rows"]
    for name in MONTH_END_KPIS:
        alone = {r["month"]: r["value"] for r in answers.get_kpi(published, name, "monthly")["rows"]}
        assert {r["month"]: r[name] for r in together} == alone, name
