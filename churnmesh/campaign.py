"""The retention campaign simulator: who a campaign targets and what it would return.

A customer saved keeps the value the churn model says is at risk, so the expected revenue saved
by contacting a customer is churn probability x predicted CLV x save rate: their revenue at risk
(macros/risk.py) times the share of customers at risk the offer keeps. The cost is the offer's
cost per contacted customer. Net value = saved - cost; ROI = net / cost. Churned customers are
never targeted: they have nothing at risk, only value already lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnmesh import parameters

RISK_LEVELS = ("high", "medium", "low")
SAVE_RATE_STEPS = 21  # 0%, 5%, ... 100% for the save-rate curve


@dataclass(frozen=True)
class Target:
    """Who to contact: open customers in every chosen segment value, at one of the chosen risk
    levels, with at least `min_predicted_clv_usd` of predicted CLV."""

    segments: dict[str, tuple[str, ...]]
    risk_levels: tuple[str, ...] = ("high", "medium")
    min_predicted_clv_usd: float = 0.0

    def __post_init__(self) -> None:
        for dimension in self.segments:
            parameters.segment_dimension(dimension, "segment")
        for level in self.risk_levels:
            parameters.one_of(RISK_LEVELS, "risk level")(level)
        if self.min_predicted_clv_usd < 0:
            raise parameters.InvalidParameter(f"value floor: not negative, please: {self.min_predicted_clv_usd}")


@dataclass(frozen=True)
class Offer:
    cost_per_customer_usd: float
    save_rate: float

    def __post_init__(self) -> None:
        if self.cost_per_customer_usd < 0:
            raise parameters.InvalidParameter(f"offer cost: not negative, please: {self.cost_per_customer_usd}")
        if not 0.0 <= self.save_rate <= 1.0:
            raise parameters.InvalidParameter(f"save rate: between 0 and 1, please: {self.save_rate}")


@dataclass(frozen=True)
class Outcome:
    customers: int
    revenue_at_risk_usd: float
    expected_saved_usd: float
    cost_usd: float

    @property
    def net_usd(self) -> float:
        return self.expected_saved_usd - self.cost_usd

    @property
    def roi(self) -> float | None:
        return self.net_usd / self.cost_usd if self.cost_usd else None


def targeted(customers: pd.DataFrame, target: Target) -> pd.DataFrame:
    """The customers of mart_customer_360 `target` picks, highest revenue at risk first."""
    keep = (customers.lifecycle_stage != "churned") & customers.churn_risk_level.isin(target.risk_levels)
    keep &= customers.predicted_clv_usd.fillna(0) >= target.min_predicted_clv_usd
    for dimension, values in target.segments.items():
        if values:
            keep &= customers[dimension].astype("string").isin(values)
    chosen = customers[keep]
    return chosen.sort_values(["revenue_at_risk_usd", "customer_id"], ascending=[False, True])


def simulate(chosen: pd.DataFrame, offer: Offer) -> Outcome:
    at_risk = float(chosen.revenue_at_risk_usd.fillna(0).sum())
    return Outcome(len(chosen), at_risk, at_risk * offer.save_rate, len(chosen) * offer.cost_per_customer_usd)


def save_rate_curve(chosen: pd.DataFrame, cost_per_customer_usd: float) -> pd.DataFrame:
    """Expected saved, cost and net value at save rates from 0% to 100%."""
    rates = [step / (SAVE_RATE_STEPS - 1) for step in range(SAVE_RATE_STEPS)]
    outcomes = [simulate(chosen, Offer(cost_per_customer_usd, rate)) for rate in rates]
    return pd.DataFrame(
        {
            "save_rate": rates,
            "expected_saved_usd": [o.expected_saved_usd for o in outcomes],
            "cost_usd": [o.cost_usd for o in outcomes],
            "net_usd": [o.net_usd for o in outcomes],
        }
    )
