"""The high-risk alert read from a small hand-made warehouse (a real DuckDB file): who is counted
at risk and who as lost, the money in its title, the top customers and their order.
tests/test_flows.py sees the same alert arrive at a webhook after a real run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from churnmesh.orchestration.alerts import TOP_CUSTOMERS, high_risk_transitions

DAY = date(2025, 6, 30)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.mart_churn_risk_transitions (customer_id TEXT, as_of_date DATE, previous_level TEXT, "
        "churn_risk_level TEXT, churn_probability DOUBLE, primary_churn_reason TEXT)"
    )
    con.execute(
        "CREATE TABLE marts.mart_churn_risk (customer_id TEXT, as_of_date DATE, revenue_at_risk_usd DOUBLE, "
        "lifecycle_stage TEXT, lost_clv_usd DOUBLE)"
    )
    return con


def _customer(
    con: duckdb.DuckDBPyConnection,
    customer: str,
    level: str,
    at_risk: float | None,
    stage: str = "active",
    **other: object,
) -> None:
    day = other.get("day", DAY)
    con.execute(
        "INSERT INTO marts.mart_churn_risk_transitions VALUES (?, ?, ?, ?, ?, ?)",
        [
            customer,
            day,
            other.get("previous", "medium"),
            level,
            other.get("p", 0.8),
            other.get("reason", "auto-renew off"),
        ],
    )
    con.execute(
        "INSERT INTO marts.mart_churn_risk VALUES (?, ?, ?, ?, ?)",
        [customer, day, at_risk, stage, other.get("lost", 0.0)],
    )


def test_no_customer_moved_into_high_risk_is_no_alert(con: duckdb.DuckDBPyConnection) -> None:
    _customer(con, "C0000001", "medium", 10.0)
    _customer(con, "C0000002", "high", 10.0, day=date(2025, 6, 29))
    assert high_risk_transitions(con, DAY) == []


def test_the_alert_counts_the_open_at_risk_and_the_churned_apart(con: duckdb.DuckDBPyConnection) -> None:
    _customer(con, "C0000001", "high", 1234.4, previous="low", p=0.876, reason="no order in 40 days")
    _customer(con, "C0000002", "high", None, previous="medium", p=0.71)
    _customer(con, "C0000003", "high", 100.0)
    _customer(con, "C0000004", "high", 0.0, stage="churned", p=1.0, lost=900.6)
    _customer(con, "C0000005", "high", 0.0, stage="churned", p=1.0, lost=100.0)
    _customer(con, "C0000006", "medium", 5000.0)  # not high: not in the alert
    (alert,) = high_risk_transitions(con, DAY)
    assert (alert.as_of, alert.kind, alert.key) == (DAY, "high_risk_transition", "all")
    assert alert.title == (
        "3 customers moved into high churn risk on 2025-06-30 ($1,334 revenue at risk); "
        "2 more churned ($1,001 value lost to churn)"
    )
    assert alert.lines == (
        "C0000001: p=0.88, $1,234 at risk (was low; no order in 40 days)",
        "C0000003: p=0.80, $100 at risk (was medium; auto-renew off)",
        "C0000002: p=0.71, $0 at risk (was medium; auto-renew off)",  # unknown revenue: last
    )
    assert alert.data == {
        "customers": 3,
        "revenue_at_risk_usd": 1334.4,
        "top": ["C0000001", "C0000003", "C0000002"],
        "churned_customers": 2,
        "lost_clv_usd": 1000.6,
    }


def test_only_the_top_customers_are_listed_and_no_churn_means_no_lost_part(con: duckdb.DuckDBPyConnection) -> None:
    for number in range(TOP_CUSTOMERS + 2):
        _customer(con, f"C{number:07d}", "high", 10.0 * number)
    (alert,) = high_risk_transitions(con, DAY)
    assert (
        alert.title == f"{TOP_CUSTOMERS + 2} customers moved into high churn risk on 2025-06-30 ($660 revenue at risk)"
    )
    assert len(alert.lines) == TOP_CUSTOMERS
    assert alert.data["top"] == [f"C{n:07d}" for n in range(TOP_CUSTOMERS + 1, 1, -1)]
    assert (alert.data["churned_customers"], alert.data["lost_clv_usd"]) == (0, 0)
    # a tie in revenue at risk is ordered by customer id
    con.execute("UPDATE marts.mart_churn_risk SET revenue_at_risk_usd = 1")
    (tied,) = high_risk_transitions(con, DAY)
    assert tied.data["top"] == [f"C{n:07d}" for n in range(TOP_CUSTOMERS)]


def test_a_churned_customer_without_lost_value_is_still_counted_churned(con: duckdb.DuckDBPyConnection) -> None:
    """Churned is the lifecycle stage, not a lost value: a churned customer with no CLV to lose
    (NULL or 0) is counted churned with nothing lost, and cents are kept to two decimals."""
    _customer(con, "C0000001", "high", 10.125, lost=None)
    _customer(con, "C0000002", "high", 0.0, stage="churned", p=1.0, lost=None)
    _customer(con, "C0000003", "high", 0.0, stage="churned", p=1.0, lost=0.0)
    _customer(con, "C0000004", "high", 0.0, stage="churned", p=1.0, lost=20.254)
    (alert,) = high_risk_transitions(con, DAY)
    assert alert.data["customers"] == 1 and alert.data["top"] == ["C0000001"]
    assert alert.data["churned_customers"] == 3
    assert alert.data["lost_clv_usd"] == 20.25
    assert alert.data["revenue_at_risk_usd"] == round(10.125, 2)
    assert alert.title.endswith("; 3 more churned ($20 value lost to churn)")
