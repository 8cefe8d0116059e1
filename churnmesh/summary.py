"""A short, human-readable account of what the warehouse holds."""

from __future__ import annotations

from pathlib import Path

import duckdb

from churnmesh.contracts import SOURCES
from churnmesh.query import quoted
from churnmesh.revenue_at_risk import risk_totals, totals_lines

SOURCE_SUMMARY = """
SELECT source,
       count(*) FILTER (WHERE status = 'loaded') AS files_loaded,
       count(*) FILTER (WHERE status = 'rejected') AS files_rejected,
       sum(rows_in) AS rows_in,
       sum(rows_loaded) AS rows_loaded,
       sum(rows_rejected) AS rows_quarantined,
       sum(rows_duplicate) AS rows_duplicate
FROM raw.ingest_manifest
GROUP BY source
"""


def source_summary(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    rows = {r[0]: r for r in con.execute(SOURCE_SUMMARY).fetchall()}
    return [rows[s.name] for s in SOURCES if s.name in rows]


def top_reject_reasons(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[tuple[str, str, int]]:
    # Each source's name is bound (the `?` of its part), its table quoted.
    union = " UNION ALL ".join(
        f"SELECT ? AS source, _reject_reason FROM {quoted('quarantine', s.name)}" for s in SOURCES
    )
    return con.execute(
        f"SELECT source, _reject_reason, count(*) AS n FROM ({union}) GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT ?",
        [*(s.name for s in SOURCES), limit],
    ).fetchall()


def print_warehouse_summary(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = source_summary(con)
        reasons = top_reject_reasons(con)
    finally:
        con.close()
    header = ("source", "files ok", "files rej.", "rows in", "loaded", "quarantined", "duplicates")
    print()
    print(f"{header[0]:<20}" + "".join(f"{h:>13}" for h in header[1:]))
    for name, *counts in rows:
        print(f"{name:<20}" + "".join(f"{v:>13,}" for v in counts))
    if reasons:
        print("\nmost frequent reasons for quarantine:")
        for source, reason, count in reasons:
            print(f"  {count:>6,}  {source}: {reason}")


RISK_SUMMARY = """
SELECT
  lifecycle_stage,
  coalesce(churn_risk_level, 'unscored') AS churn_risk_level,
  count(*) AS customers,
  avg(churn_probability) AS mean_probability,
  sum(predicted_clv_usd) AS predicted_clv_usd,
  sum(revenue_at_risk_usd) AS revenue_at_risk_usd,
  sum(rule_revenue_at_risk_usd) AS rule_revenue_at_risk_usd,
  sum(lost_clv_usd) AS lost_clv_usd
FROM marts.mart_churn_risk
GROUP BY ALL
ORDER BY 1, 2
"""

# Churned customers have 0 at risk (macros/risk.py), so "> 0" keeps them out with the unscored.
TOP_AT_RISK = """
SELECT customer_id, churn_probability, predicted_clv_usd, revenue_at_risk_usd, churn_reasons
FROM marts.mart_churn_risk
WHERE revenue_at_risk_usd > 0
ORDER BY revenue_at_risk_usd DESC, customer_id
LIMIT 5
"""


RISK_HEADER = (
    "stage",
    "level",
    "customers",
    "mean prob.",
    "predicted CLV",
    "revenue at risk",
    "rule-based",
    "lost to churn",
)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_risk_summary(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(RISK_SUMMARY).fetchall()
        top = con.execute(TOP_AT_RISK).fetchall()
        as_of, version = con.execute("SELECT max(as_of_date), max(model_version) FROM marts.mart_churn_risk").fetchone()
        totals = risk_totals(con, as_of)
    finally:
        con.close()
    print(f"\ncustomers by lifecycle stage and churn risk level, as of {as_of} (churn model {version or 'none'}):")
    header = RISK_HEADER
    print(f"{header[0]:<12}{header[1]:<10}" + "".join(f"{h:>16}" for h in header[2:]))
    for stage, level, customers, probability, clv, at_risk, rule, lost in rows:
        mean = "-" if probability is None else f"{probability:.3f}"
        money = "".join(f"{_money(v):>16}" for v in (clv, at_risk, rule, lost))
        print(f"{stage:<12}{level:<10}{customers:>16,}{mean:>16}{money}")
    print()
    for line in totals_lines(totals):
        print(line)
    if top:
        print("\ntop customers by revenue at risk (not yet churned):")
        for customer, probability, clv, at_risk, reasons in top:
            print(f"  {customer}  p={probability:.2f}  CLV {clv:>9,.0f}  at risk {at_risk:>8,.0f}  {reasons}")
    print(
        f"\nmarts in {warehouse}: schema marts (customer 360, CLV, churn risk, segments, cohorts, support and "
        "app version analyses), schema metrics (LTV, month-over-month spend, transaction value) and schema "
        "scoring (churn scores per as-of date, CLV predictions)"
    )
