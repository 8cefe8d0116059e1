"""A short, human-readable account of what the warehouse holds."""

from __future__ import annotations

from pathlib import Path

import duckdb

from churnmesh.contracts import SOURCES

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
    union = " UNION ALL ".join(f"SELECT '{s.name}' AS source, _reject_reason FROM quarantine.{s.name}" for s in SOURCES)
    return con.execute(
        f"SELECT source, _reject_reason, count(*) AS n FROM ({union}) GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT ?",
        [limit],
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
SELECT lifecycle_stage, risk_level, count(*) AS customers, round(sum(revenue_at_risk_usd)) AS revenue_at_risk_usd
FROM marts.mart_churn_risk
GROUP BY ALL
ORDER BY 1, 2
"""


def print_risk_summary(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(RISK_SUMMARY).fetchall()
        (as_of,) = con.execute("SELECT max(as_of_date) FROM marts.mart_churn_risk").fetchone()
    finally:
        con.close()
    print(f"\ncustomers by lifecycle stage and rule-based risk, as of {as_of}:")
    print(f"{'stage':<12}{'risk':<8}{'customers':>10}{'revenue at risk':>18}")
    for stage, level, customers, at_risk in rows:
        print(f"{stage:<12}{level:<8}{customers:>10,}{at_risk:>18,.0f}")
    print(
        f"\nmarts in {warehouse}: schema marts (customer 360, CLV, churn risk, segments, cohorts, support and "
        "app version analyses) and schema metrics (LTV, month-over-month spend, transaction value)"
    )
