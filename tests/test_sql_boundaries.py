"""The models' thresholds and windows at their boundaries: a row exactly at each, one below and
one above. Thresholds are read from project.yaml, where they are defined once; the windows written
into the SQL (the "_90d" and "_30d" of the feature names) are stated here once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlmesh import Context

from churnmesh.scoring.scores import risk_level
from churnmesh.settings import business_definitions
from tests.sqlmesh_unit import Rows, project_context, run_model_test

AS_OF = date(2024, 6, 30)
DEFINITIONS = business_definitions()
HIGH = int(DEFINITIONS["risk_high_threshold"])
MEDIUM = int(DEFINITIONS["risk_medium_threshold"])
CHURN_DAYS = int(DEFINITIONS["churn_inactive_days"])
DORMANT_DAYS = int(DEFINITIONS["dormant_inactive_days"])
ONBOARDING_DAYS = int(DEFINITIONS["onboarding_days"])
RETENTION_FLOOR = float(DEFINITIONS["retention_min_revenue_at_risk_usd"])
CUSTOMER_360_TEST = Path(__file__).with_name("test_mart_customer_360.yaml")
LONG_WINDOW_DAYS = 90  # tickets_90d, avg_csat_90d, avg_resolution_hours_90d
SHORT_WINDOW_DAYS = 30  # low_csat_tickets_30d
LOW_CSAT = 2  # "tickets with CSAT <= 2": the low-CSAT feature's own definition
TREND_DROP = 0.5  # a spend or session trend below half of the prior 60 days' scores its drop points
TREND_STEP = 0.01
# The rule-based score's fixed points (int_customer_lifecycle.sql), the flags that give them, and
# the two time-scaled parts (each up to 20 points at churn_inactive_days) that fill in the rest.
FLAG_POINTS = (
    ({"auto_renew_off": True}, 15),
    ({"cancelled_subscription": True}, 15),
    ({"revenue_trend": 0.0}, 15),
    ({"low_csat_tickets_30d": 2}, 20),
    ({"session_trend": 0.0}, 10),
)
TIME_SCALED_MAX = 40
# Incremental models whose past intervals are kept as they were computed, on purpose.
SCORED_AS_THEY_STOOD = {
    # the score history: each as-of date keeps the score it was given; late rows reach the next day's
    "scoring.churn_scores",
}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    with project_context(Path(tmp_path_factory.mktemp("unit"))) as context:
        yield context


def _features(customer: str, **values: Any) -> dict[str, Any]:
    """A healthy, long-standing customer who bought and visited today; `values` change that."""
    row = {
        "customer_id": customer,
        "as_of_date": AS_OF,
        "tenure_days": 400,
        "recency_days": 0,
        "days_inactive": 0,
        "has_active_subscription": True,
        "subscription_inactive_since": None,
        "revenue_trend": 1.0,
        "session_trend": 1.0,
        "low_csat_tickets_30d": 0,
        "auto_renew_off": False,
        "cancelled_subscription": False,
    }
    return row | values


def _scoring(score: int) -> dict[str, Any]:
    """Feature values whose rule-based score is `score`: fixed points first, then days without a
    purchase and days inactive (20 points each at churn_inactive_days) for the rest."""
    values: dict[str, Any] = {}
    rest = score
    for flags, points in FLAG_POINTS:
        if rest < TIME_SCALED_MAX:
            break
        if points <= rest:
            values |= flags
            rest -= points
    days = round(rest * CHURN_DAYS / 20)  # recency_days + days_inactive
    inactive = days // 2
    return values | {"recency_days": days - inactive, "days_inactive": inactive}


def _expected_level(score: int) -> str:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def test_risk_levels_at_their_thresholds(context: Context) -> None:
    scores = sorted({t + step for t in (HIGH, MEDIUM) for step in (-1, 0, 1)})
    rows = [_features(f"S{score}", **_scoring(score)) for score in scores]
    expected = [{"customer_id": f"S{s}", "risk_score": s, "risk_level": _expected_level(s)} for s in scores]
    run_model_test(
        context,
        "risk_levels_at_their_thresholds",
        "intermediate.int_customer_lifecycle",
        {"intermediate.int_customer_features": rows},
        expected,
    )


def test_spend_and_session_drops_at_their_cutoff(context: Context) -> None:
    """Only a drop to below TREND_DROP of the prior rate scores: its FLAG_POINTS, nothing else."""
    cases = []
    for trend, flag_points in (("revenue_trend", 15), ("session_trend", 10)):
        for step in (-1, 0, 1):
            value = round(TREND_DROP + step * TREND_STEP, 2)
            cases.append((f"{trend}{step}", {trend: value}, flag_points if value < TREND_DROP else 0))
    run_model_test(
        context,
        "spend_and_session_drops_at_their_cutoff",
        "intermediate.int_customer_lifecycle",
        {"intermediate.int_customer_features": [_features(name, **values) for name, values, _ in cases]},
        [{"customer_id": name, "risk_score": points} for name, _, points in cases],
    )


def test_retention_by_value_from_the_floor_on(context: Context) -> None:
    """A low-risk open customer is wanted by retention from retention_min_revenue_at_risk_usd at risk
    on (C2, C3), not a cent below it (C1); a churned one never (C4). The customers are those of
    test_mart_customer_360.yaml, with the model's risk set low."""
    inputs = yaml.safe_load(CUSTOMER_360_TEST.read_text())["test_campaigns_follow_the_live_model"]["inputs"]
    at_risk = {"C1": RETENTION_FLOOR - 0.01, "C2": RETENTION_FLOOR, "C3": RETENTION_FLOOR + 0.01, "C4": RETENTION_FLOOR}
    for row in inputs["marts.mart_churn_risk"]["rows"]:
        row |= {"churn_risk_level": "low", "revenue_at_risk_usd": at_risk.get(row["customer_id"], 1.0)}
    wanted = {"C2", "C3"}
    customers = [row["customer_id"] for row in inputs["marts.mart_churn_risk"]["rows"]]
    run_model_test(
        context,
        "retention_by_value_from_the_floor_on",
        "marts.mart_customer_360",
        {table: table_input["rows"] for table, table_input in inputs.items()},
        [{"customer_id": c, "eligible_retention_campaign": c in wanted} for c in customers],
    )


def test_lifecycle_stages_at_their_thresholds(context: Context) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = []
    for step in (-1, 0, 1):
        tenure = ONBOARDING_DAYS + step
        stage = "onboarding" if tenure < ONBOARDING_DAYS else "active"
        cases.append((f"O{step}", {"tenure_days": tenure}, stage))
        gap = DORMANT_DAYS + step
        stage = "dormant" if gap >= DORMANT_DAYS else "active"
        cases.append((f"D{step}", {"recency_days": gap}, stage))
        inactive = CHURN_DAYS + step
        stage = "churned" if inactive >= CHURN_DAYS else "dormant"
        idle = {"recency_days": inactive, "days_inactive": inactive, "has_active_subscription": False}
        cases.append((f"C{step}", idle, stage))
    run_model_test(
        context,
        "lifecycle_stages_at_their_thresholds",
        "intermediate.int_customer_lifecycle",
        {"intermediate.int_customer_features": [_features(name, **values) for name, values, _ in cases]},
        [{"customer_id": name, "lifecycle_stage": stage} for name, _, stage in cases],
    )


def test_model_risk_levels_at_their_thresholds() -> None:
    scores = np.array([t + step for t in (HIGH, MEDIUM) for step in (-1, 0, 1)], dtype=float)
    levels = risk_level(scores, HIGH, MEDIUM)
    assert list(levels) == [_expected_level(int(s)) for s in scores]


def _day(days_before: int) -> date:
    return AS_OF - timedelta(days=days_before)


def _ticket(ticket: str, customer: str, opened: date, closed: date | None, csat: int | None) -> dict[str, Any]:
    return {
        "ticket_id": ticket,
        "customer_id": customer,
        "opened_date": opened,
        "closed_date": closed,
        "is_closed": closed is not None,
        "csat_score": csat,
        "resolution_time_minutes": 60 if closed is not None else None,
    }


def _window_customers() -> tuple[Rows, Rows, Rows]:
    """One customer per window edge: a ticket opened and closed that many days before the as-of
    date. Inside a window of N days are days 0 to N-1 before the as-of date."""
    customers, tickets, expected = [], [], []
    for edge in (LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS):
        for days_before in (edge - 1, edge, edge + 1):
            customer = f"W{edge}_{days_before}"
            customers.append(
                {"customer_id": customer, "signup_date": date(2023, 1, 1), "city": "Lisbon", "is_current": True}
            )
            day = _day(days_before)
            tickets.append(_ticket(f"T{customer}", customer, day, day, LOW_CSAT))
            expected.append(_window_expectation(customer, days_before))
    return customers, tickets, expected


def _window_expectation(customer: str, days_before: int) -> dict[str, Any]:
    in_long = days_before < LONG_WINDOW_DAYS
    return {
        "customer_id": customer,
        "tickets_90d": 1 if in_long else 0,
        "avg_csat_90d": float(LOW_CSAT) if in_long else None,
        "avg_resolution_hours_90d": 1.0 if in_long else None,
        "low_csat_tickets_30d": 1 if days_before < SHORT_WINDOW_DAYS else 0,
    }


def test_ticket_windows_at_their_edges(context: Context) -> None:
    customers, tickets, expected = _window_customers()
    run_model_test(
        context,
        "ticket_windows_at_their_edges",
        "intermediate.int_customer_features",
        {
            "core.dim_customers": customers,
            "core.fct_support_tickets": tickets,
            "intermediate.int_customer_daily_metrics": [],
            "core.fct_subscriptions": [],
            "core.fct_loyalty": [],
            "core.fct_orders": [],
        },
        expected,
        variables={"execution_time": str(AS_OF + timedelta(days=1))},
    )


def test_a_customer_counts_from_the_signup_date_on(context: Context) -> None:
    """Signed up the day before or on the as-of date: a customer with features; the day after: not yet."""
    customers = [
        {"customer_id": f"S{days}", "signup_date": _day(-days), "city": "Lisbon", "is_current": True}
        for days in (-1, 0, 1)
    ]
    run_model_test(
        context,
        "a_customer_counts_from_the_signup_date_on",
        "intermediate.int_customer_features",
        {
            "core.dim_customers": customers,
            "core.fct_support_tickets": [],
            "intermediate.int_customer_daily_metrics": [],
            "core.fct_subscriptions": [],
            "core.fct_loyalty": [],
            "core.fct_orders": [],
        },
        [{"customer_id": "S-1", "tenure_days": 1}, {"customer_id": "S0", "tenure_days": 0}],
        variables={"execution_time": str(AS_OF + timedelta(days=1))},
    )


def test_every_incremental_model_reprocesses_the_late_data_lookback(context: Context) -> None:
    """Late rows are absorbed only by models that re-read the lookback; an incremental model
    without it would keep a late row out of the marts until someone restates it."""
    lookback = int(DEFINITIONS["late_data_lookback_days"])
    incremental = {
        model.name: model.lookback
        for model in context.models.values()
        if model.kind.is_incremental_by_time_range and model.name not in SCORED_AS_THEY_STOOD
    }
    assert len(incremental) >= 3, incremental
    assert {name: days for name, days in incremental.items() if days != lookback} == {}
