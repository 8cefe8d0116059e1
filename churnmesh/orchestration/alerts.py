"""The alerts of a day, read from the warehouse after the run: customers who moved into high churn
risk, and sources whose data can no longer be trusted (stale, odd volume, late beyond the lookback).
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import duckdb

from churnmesh.contracts import SOURCES
from churnmesh.orchestration.notify import Alert
from churnmesh.settings import business_definitions

TOP_CUSTOMERS = 10
VOLUME_HISTORY_DAYS = 28
VOLUME_MIN_HISTORY = 14
VOLUME_SIGMAS = 4.0
VOLUME_MIN_RELATIVE_SPREAD = 0.10  # a source with almost constant volume still tolerates +-40%
# The incremental model each event source feeds: the one to restate for rows beyond the lookback.
RESTATE_MODEL = {"orders": "core.fct_orders", "device_sessions": "core.fct_sessions"}


def high_risk_transitions(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    rows = con.execute(
        """
        SELECT t.customer_id, t.previous_level, t.churn_probability, r.revenue_at_risk_usd, t.primary_churn_reason
        FROM marts.mart_churn_risk_transitions AS t
        JOIN marts.mart_churn_risk AS r ON r.customer_id = t.customer_id AND r.as_of_date = t.as_of_date
        WHERE t.as_of_date = ? AND t.churn_risk_level = 'high'
        ORDER BY r.revenue_at_risk_usd DESC NULLS LAST, t.customer_id
        """,
        [as_of],
    ).fetchall()
    if not rows:
        return []
    at_risk = sum(float(r[3] or 0) for r in rows)
    top = [
        f"{customer}: p={probability:.2f}, ${float(revenue or 0):,.0f} at risk (was {previous}; {reason})"
        for customer, previous, probability, revenue, reason in rows[:TOP_CUSTOMERS]
    ]
    return [
        Alert(
            as_of,
            "high_risk_transition",
            "all",
            f"{len(rows)} customers moved into high churn risk on {as_of} (${at_risk:,.0f} revenue at risk)",
            tuple(top),
            {
                "customers": len(rows),
                "revenue_at_risk_usd": round(at_risk, 2),
                "top": [r[0] for r in rows[:TOP_CUSTOMERS]],
            },
        )
    ]


def stale_sources(con: duckdb.DuckDBPyConnection, as_of: date, allowance_days: int) -> list[Alert]:
    latest = dict(
        con.execute(
            "SELECT source, max(file_date) FROM raw.ingest_manifest WHERE status = 'loaded' AND file_date <= ? "
            "GROUP BY source",
            [as_of],
        ).fetchall()
    )
    alerts = []
    for source in SOURCES:
        newest = latest.get(source.name)
        if newest is None or (as_of - newest).days > allowance_days:
            seen = "no file ever" if newest is None else f"newest file {newest}"
            alerts.append(
                Alert(
                    as_of,
                    "freshness",
                    source.name,
                    f"{source.name}: no new file for more than {allowance_days} day(s) ({seen})",
                    data={"source": source.name, "newest_file_date": str(newest), "allowance_days": allowance_days},
                )
            )
    return alerts


def volume_anomalies(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    rows = con.execute(
        "SELECT source, file_date, sum(rows_in) FROM raw.ingest_manifest "
        "WHERE status = 'loaded' AND file_date BETWEEN ? AND ? GROUP BY ALL",
        [as_of - timedelta(days=VOLUME_HISTORY_DAYS), as_of],
    ).fetchall()
    alerts = []
    for source in SOURCES:
        history = [int(n) for s, d, n in rows if s == source.name and d < as_of]
        today = [int(n) for s, d, n in rows if s == source.name and d == as_of]
        if not today or len(history) < VOLUME_MIN_HISTORY:
            continue
        mean = statistics.fmean(history)
        spread = max(statistics.pstdev(history), VOLUME_MIN_RELATIVE_SPREAD * mean, 1.0)
        if abs(today[0] - mean) > VOLUME_SIGMAS * spread:
            alerts.append(
                Alert(
                    as_of,
                    "volume",
                    source.name,
                    f"{source.name}: {today[0]:,} rows on {as_of}, trailing {VOLUME_HISTORY_DAYS}-day mean {mean:,.0f}",
                    data={"source": source.name, "rows": today[0], "trailing_mean": round(mean, 1)},
                )
            )
    return alerts


def late_rows(con: duckdb.DuckDBPyConnection, as_of: date, lookback_days: int) -> list[Alert]:
    """Rows in the day's files dated earlier than the lookback reaches. The daily run's own
    intervals cannot take them; the restatement that follows the run (late_changes.restate_pending)
    recomputes their dates, so the alert tells what happened and how to redo it by hand."""
    alerts = []
    for source in SOURCES:
        if source.event_column is None or source.name not in RESTATE_MODEL:
            continue
        count, first, last = con.execute(
            f"""
            SELECT count(*), min(CAST({source.event_column} AS DATE)), max(CAST({source.event_column} AS DATE))
            FROM raw.{source.name}
            WHERE _source_file IN (SELECT file_path FROM raw.ingest_manifest WHERE source = ? AND file_date = ?)
              AND CAST({source.event_column} AS DATE) < ?
            """,
            [source.name, as_of, as_of - timedelta(days=lookback_days)],
        ).fetchone()
        if count:
            alerts.append(
                Alert(
                    as_of,
                    "late_rows",
                    source.name,
                    f"{source.name}: {count:,} rows dated {first} to {last} arrived on {as_of}, "
                    f"later than the {lookback_days}-day lookback",
                    (
                        f"Restated automatically after the day's run: {RESTATE_MODEL[source.name]} and everything "
                        f"downstream from {first} to {last}, with any other change behind the lookback.",
                        "To restate again by hand: "
                        f"churnmesh backfill --restate --model {RESTATE_MODEL[source.name]} "
                        f"--start {first} --end {last}",
                    ),
                    {"source": source.name, "rows": count, "first_date": str(first), "last_date": str(last)},
                )
            )
    return alerts


def data_alerts(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    definitions = business_definitions()
    return [
        *stale_sources(con, as_of, int(definitions["freshness_allowance_days"])),
        *volume_anomalies(con, as_of),
        *late_rows(con, as_of, int(definitions["late_data_lookback_days"])),
    ]
