"""The warehouse-wide totals of revenue at risk and of value lost to churn.

Both are defined per customer once, by the SQLMesh macros of macros/risk.py (revenue at risk:
churn probability x predicted CLV for open customers, 0 for churned ones; value lost to churn:
the predicted CLV of churned customers). Every printed figure sums those columns of
marts.mart_churn_risk here, with no filter of its own, so it agrees with every mart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

# Decimals: a sum of doubles depends on row order, and the same mart must print the same figure.
TOTALS_SQL = """
SELECT
  count(*) FILTER (WHERE lifecycle_stage <> 'churned') AS open_customers,
  coalesce(sum(CAST(revenue_at_risk_usd AS DECIMAL(18, 2))), 0) AS revenue_at_risk_usd,
  count(*) FILTER (WHERE lifecycle_stage = 'churned') AS churned_customers,
  coalesce(sum(CAST(lost_clv_usd AS DECIMAL(18, 2))), 0) AS lost_clv_usd,
  count(revenue_at_risk_usd) > 0 AS scored
FROM marts.mart_churn_risk
WHERE as_of_date = coalesce(?, (SELECT max(as_of_date) FROM marts.mart_churn_risk))
"""


@dataclass(frozen=True)
class RiskTotals:
    open_customers: int
    revenue_at_risk_usd: float  # churn probability x predicted CLV over open customers
    churned_customers: int
    lost_clv_usd: float  # predicted CLV of the customers already churned
    scored: bool  # False while no churn model is live: there is no revenue at risk to report


def risk_totals(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> RiskTotals:
    """The totals of the mart's as-of date (`as_of`, or the latest the mart describes)."""
    open_customers, at_risk, churned, lost, scored = con.execute(TOTALS_SQL, [as_of]).fetchone()
    return RiskTotals(int(open_customers), float(at_risk), int(churned), float(lost), bool(scored))


def totals_lines(totals: RiskTotals) -> list[str]:
    """The two figures in words, as the summaries print them."""
    at_risk = (
        f"${totals.revenue_at_risk_usd:,.0f} over {totals.open_customers:,} open customers"
        if totals.scored
        else "none scored (no churn model is live)"
    )
    return [
        f"revenue at risk (churn probability x predicted CLV, not yet churned): {at_risk}",
        f"value lost to churn (predicted CLV of {totals.churned_customers:,} churned customers): "
        f"${totals.lost_clv_usd:,.0f}",
    ]
