"""The alerts of a day, read from the warehouse after the run: customers who moved into high churn
risk, and sources whose data can no longer be trusted (stale, odd volume, late beyond the lookback).
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import duckdb

from churnmesh import watermark
from churnmesh.contracts import SOURCES
from churnmesh.data_quality import VOLUME_HISTORY_DAYS, VOLUME_MIN_HISTORY, VOLUME_MIN_RELATIVE_SPREAD, VOLUME_SIGMAS
from churnmesh.orchestration.notify import Alert
from churnmesh.query import quoted
from churnmesh.settings import business_definitions

TOP_CUSTOMERS = 10
# The incremental model each event source feeds: the one to restate for rows beyond the lookback.
RESTATE_MODEL = {"orders": "core.fct_orders", "device_sessions": "core.fct_sessions"}


def high_risk_transitions(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    """Customers whose churn level became high on `as_of`. A customer who churned moves to high by
    definition (probability 1): that is value lost, not at risk, so it is counted apart and left
    out of the revenue at risk and of the customers to act on."""
    rows = con.execute(
        """
        SELECT t.customer_id, t.previous_level, t.churn_probability, r.revenue_at_risk_usd, t.primary_churn_reason,
               coalesce(r.lifecycle_stage = 'churned', FALSE) AS churned, r.lost_clv_usd
        FROM marts.mart_churn_risk_transitions AS t
        JOIN marts.mart_churn_risk AS r ON r.customer_id = t.customer_id AND r.as_of_date = t.as_of_date
        WHERE t.as_of_date = ? AND t.churn_risk_level = 'high'
        ORDER BY r.revenue_at_risk_usd DESC NULLS LAST, t.customer_id
        """,
        [as_of],
    ).fetchall()
    if not rows:
        return []
    at_risk_rows = [r for r in rows if not r[5]]
    lost_rows = [r for r in rows if r[5]]
    at_risk = sum(float(r[3] or 0) for r in at_risk_rows)
    lost = sum(float(r[6] or 0) for r in lost_rows)
    top = [
        f"{customer}: p={probability:.2f}, ${float(revenue or 0):,.0f} at risk (was {previous}; {reason})"
        for customer, previous, probability, revenue, reason, _, _ in at_risk_rows[:TOP_CUSTOMERS]
    ]
    title = f"{len(at_risk_rows)} customers moved into high churn risk on {as_of} (${at_risk:,.0f} revenue at risk)"
    if lost_rows:
        title += f"; {len(lost_rows)} more churned (${lost:,.0f} value lost to churn)"
    return [
        Alert(
            as_of,
            "high_risk_transition",
            "all",
            title,
            tuple(top),
            {
                "customers": len(at_risk_rows),
                "revenue_at_risk_usd": round(at_risk, 2),
                "top": [r[0] for r in at_risk_rows[:TOP_CUSTOMERS]],
                "churned_customers": len(lost_rows),
                "lost_clv_usd": round(lost, 2),
            },
        )
    ]


def freshness(con: duckdb.DuckDBPyConnection, as_of: date, allowance_days: int) -> list[Alert]:
    """One alert per source that is late or has gaps: it holds the data watermark back by more
    than the freshness allowance (the others delivered newer days, which no model processes until
    it catches up), or a day within the allowance of `as_of` has no usable file from it (a file
    rejected whole counts as missing; an older gap was reported on the days it fell in the window)."""
    mark = watermark.read(con)
    gaps = _delivery_gaps(con, as_of, allowance_days + 1)
    alerts = []
    for source in SOURCES:
        problems = [*_lag_problem(mark, source.name, allowance_days), *gaps.get(source.name, [])]
        if problems:
            alerts.append(
                Alert(
                    as_of,
                    "freshness",
                    source.name,
                    f"{source.name}: {problems[0]}",
                    tuple(problems[1:]),
                    {
                        "source": source.name,
                        "newest_file_date": str(mark.newest_by_source.get(source.name)),
                        "watermark": str(mark.day),
                        "problems": problems,
                    },
                )
            )
    return alerts


def _lag_problem(mark: watermark.Watermark, source: str, allowance_days: int) -> list[str]:
    newest, frontier = mark.newest_by_source.get(source), mark.frontier
    if frontier is None:
        return []
    if newest is None:
        return [f"no file ever, while other sources have delivered up to {frontier}; the data watermark waits"]
    lag = (frontier - newest).days
    if lag <= allowance_days:
        return []
    return [
        f"newest file {newest}, {lag} days behind the newest delivery ({frontier}): it holds the data "
        f"watermark at {mark.day}, and no model runs past it (allowance {allowance_days} day(s))"
    ]


def _delivery_gaps(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int) -> dict[str, list[str]]:
    """Per source, the days of the window ending on `as_of` without a usable file, between its first
    and its newest (days after its newest are lag, not gaps)."""
    rows = con.execute(
        f"""
        WITH days AS (
            SELECT CAST(d AS DATE) AS day FROM range(CAST(? AS DATE), CAST(? AS DATE) + 1, INTERVAL 1 DAY) AS t(d)
        ), sources AS (
            SELECT source, min(file_date) AS first_day, max(file_date) AS last_day FROM raw.ingest_manifest
            WHERE {watermark.DELIVERED_SQL} GROUP BY source
        )
        SELECT s.source, list(d.day ORDER BY d.day)
        FROM sources AS s JOIN days AS d ON d.day BETWEEN s.first_day AND s.last_day
        WHERE NOT EXISTS (
            SELECT 1 FROM raw.ingest_manifest AS m
            WHERE m.source = s.source AND m.file_date = d.day AND {watermark.DELIVERED_SQL}
        )
        GROUP BY s.source
        """,
        [as_of - timedelta(days=window_days - 1), as_of],
    ).fetchall()
    window = f"of the {window_days} days to {as_of}"
    return {source: [f"no usable file for {', '.join(map(str, days))} ({len(days)} {window})"] for source, days in rows}


def volume_anomalies(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    """A source whose rows loaded on `as_of` are far from its trailing mean. Loaded rows, not rows
    received: a file of replayed or quarantined rows arrives at its usual size and still leaves the
    day nearly empty."""
    rows = con.execute(
        "SELECT source, file_date, sum(rows_loaded) FROM raw.ingest_manifest "
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
                    f"{source.name}: {today[0]:,} rows loaded on {as_of}, trailing {VOLUME_HISTORY_DAYS}-day mean "
                    f"{mean:,.0f}",
                    data={"source": source.name, "rows_loaded": today[0], "trailing_mean": round(mean, 1)},
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
        event = quoted(source.event_column)
        count, first, last = con.execute(
            f"""
            SELECT count(*), min(CAST({event} AS DATE)), max(CAST({event} AS DATE))
            FROM {quoted("raw", source.name)}
            WHERE _source_file IN (SELECT file_path FROM raw.ingest_manifest WHERE source = ? AND file_date = ?)
              AND CAST({event} AS DATE) < ?
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
        *freshness(con, as_of, int(definitions["freshness_allowance_days"])),
        *volume_anomalies(con, as_of),
        *late_rows(con, as_of, int(definitions["late_data_lookback_days"])),
    ]
