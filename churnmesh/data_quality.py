"""Field health: whether a day's loaded rows look like the rows their source usually sends.

A file can pass its contract and still be wrong: two numeric columns swapped in the export, or a
price sent in cents. Each loaded file gets a profile per column in `raw.field_profiles` (written
by ingestion, derived only from the file's own rows in raw, so a rerun or a crash recovery writes
the same profile): row count, null share, distinct count, and for numeric columns the median,
95th percentile and mean. A file's health compares its profile with the profiles of the same
source's files of the trailing FIELD_HEALTH_HISTORY_DAYS days.

The thresholds of every data-quality alert are declared here, once; alerts, the run summary, the
publication and the tests read them from here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from churnmesh.contracts import SOURCES, Source
from churnmesh.query import quoted
from churnmesh.settings import business_definitions

# Volume: a source's rows loaded on a day alert when more than VOLUME_SIGMAS standard deviations
# (at least VOLUME_MIN_RELATIVE_SPREAD of the mean) from its trailing VOLUME_HISTORY_DAYS-day mean.
VOLUME_HISTORY_DAYS = 28
VOLUME_MIN_HISTORY = 14
VOLUME_SIGMAS = 4.0
VOLUME_MIN_RELATIVE_SPREAD = 0.10  # a source with almost constant volume still tolerates +-40%
# A loaded file alerts when more than this share of its rows is quarantined, once at least
# QUARANTINE_MIN_ROWS rows are (one bad row in a three-row file is not a spike).
QUARANTINE_MAX_SHARE = 0.05
QUARANTINE_MIN_ROWS = 5
QUARANTINE_TOP_REASONS = 3
# Field health: a file is compared with the files of its source of the trailing days before it,
# once there are enough of them, and only when it has enough rows for its statistics to mean
# something.
FIELD_HEALTH_HISTORY_DAYS = 28
FIELD_HEALTH_MIN_HISTORY = 14
FIELD_HEALTH_MIN_ROWS = 10
# A numeric statistic (median, p95, mean) is suspect outside [lowest / F, highest * F] of the
# trailing days (F = FIELD_HEALTH_MAX_FACTOR): a swapped or rescaled column moves it by far more,
# while daily noise stays inside the range the trailing days themselves span.
FIELD_HEALTH_MAX_FACTOR = 3.0
# A column's null share is suspect this far (absolute) above the highest of the trailing days.
FIELD_HEALTH_MAX_NULL_SHARE_RISE = 0.25
# A column with a single value in a file is suspect when each trailing day had at least this many.
FIELD_HEALTH_MIN_DISTINCT = 3
NUMERIC_STATISTICS = ("median", "p95", "mean")
# The state of a run's marts: suspect while a file they rest on fails field health.
TRUSTED, SUSPECT = "trusted", "suspect"

PROFILES_DDL = """
CREATE TABLE IF NOT EXISTS raw.field_profiles (
    file_path VARCHAR NOT NULL,      -- the loaded file (raw.ingest_manifest.file_path)
    checksum VARCHAR NOT NULL,       -- of the version profiled: a replaced file is profiled again
    source VARCHAR NOT NULL,
    file_date DATE,
    column_name VARCHAR NOT NULL,
    rows BIGINT NOT NULL,            -- the file's rows in raw
    null_share DOUBLE NOT NULL,
    distinct_count BIGINT NOT NULL,
    median DOUBLE,                   -- numeric columns only
    p95 DOUBLE,
    mean DOUBLE,
    PRIMARY KEY (file_path, column_name)
)
"""


@dataclass(frozen=True)
class Finding:
    """One statistic of one column of one file outside what its trailing days allow."""

    source: str
    file_path: str
    file_date: date
    column: str
    statistic: str  # median | p95 | mean | null_share | distinct_count
    value: float
    low: float  # the trailing days' lowest and highest of the statistic
    high: float
    history_files: int

    def describe(self) -> str:
        if self.statistic == "distinct_count":
            return (
                f"{self.column} has one value in every row (trailing {FIELD_HEALTH_HISTORY_DAYS} days: "
                f"{self.low:,.0f} to {self.high:,.0f} distinct values)"
            )
        if self.statistic == "null_share":
            return (
                f"{self.column} {self.value:.0%} empty (trailing {FIELD_HEALTH_HISTORY_DAYS} days: "
                f"{self.low:.0%} to {self.high:.0%})"
            )
        return (
            f"{self.column} {self.statistic} {_figure(self.value)} (trailing {FIELD_HEALTH_HISTORY_DAYS} days: "
            f"{_figure(self.low)} to {_figure(self.high)})"
        )

    def as_record(self) -> dict[str, object]:
        return {
            "source": self.source,
            "file": self.file_path,
            "file_date": self.file_date.isoformat(),
            "column": self.column,
            "statistic": self.statistic,
            "value": round(self.value, 4),
            "trailing_low": round(self.low, 4),
            "trailing_high": round(self.high, 4),
            "description": self.describe(),
        }


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def numeric_columns(source: Source) -> tuple[str, ...]:
    return tuple(c.name for c in source.columns if c.kind in ("int", "float"))


def ensure_profiles_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(PROFILES_DDL)


def refresh_profiles(con: duckdb.DuckDBPyConnection) -> int:
    """Profile every loaded file that has no profile of its current version, and drop the
    profiles of versions no longer loaded. Idempotent: what a killed run left unprofiled is
    profiled by the next, from the same rows. Returns the number of files profiled."""
    con.execute(
        "DELETE FROM raw.field_profiles AS p WHERE NOT EXISTS (SELECT 1 FROM raw.ingest_manifest AS m "
        "WHERE m.file_path = p.file_path AND m.checksum = p.checksum AND m.status = 'loaded')"
    )
    profiled = 0
    for source in SOURCES:
        files = con.execute(
            "SELECT file_path FROM raw.ingest_manifest AS m WHERE source = ? AND status = 'loaded' "
            "AND rows_loaded > 0 "
            "AND NOT EXISTS (SELECT 1 FROM raw.field_profiles AS p WHERE p.file_path = m.file_path)",
            [source.name],
        ).fetchall()
        if files:
            _profile(con, source, [f for (f,) in files])
            profiled += len(files)
    return profiled


def _profile(con: duckdb.DuckDBPyConnection, source: Source, files: list[str]) -> None:
    """One scan of the files' rows: per column, its null share and distinct count, and for
    numeric columns the median, p95 and mean; then one profile row per file and column."""
    numeric = set(numeric_columns(source))
    parts = []
    for name in source.column_names:
        column = quoted(name)
        stats = (
            f"quantile_cont({column}, 0.5) AS median, quantile_cont({column}, 0.95) AS p95, "
            f"CAST(avg({column}) AS DOUBLE) AS mean"
            if name in numeric
            else "CAST(NULL AS DOUBLE) AS median, CAST(NULL AS DOUBLE) AS p95, CAST(NULL AS DOUBLE) AS mean"
        )
        parts.append(
            "SELECT r._source_file, ? AS column_name, count(*) AS rows, "
            f"avg(CASE WHEN {column} IS NULL THEN 1.0 ELSE 0.0 END) AS null_share, "
            f"count(DISTINCT {column}) AS distinct_count, {stats} FROM picked AS r GROUP BY r._source_file"
        )
    con.execute(
        f"""
        INSERT INTO raw.field_profiles
        WITH picked AS (
            SELECT * FROM {quoted("raw", source.name)} WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))
        ), profiles AS ({" UNION ALL ".join(parts)})
        SELECT m.file_path, m.checksum, m.source, m.file_date, p.* EXCLUDE (_source_file)
        FROM profiles AS p JOIN raw.ingest_manifest AS m ON m.file_path = p._source_file
        """,
        [files, *source.column_names],  # the files, then each part's column name
    )


def field_health(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[Finding]:
    """Findings of the loaded files dated `first` to `last`, each against its own trailing days."""
    if not _has_profiles(con):
        return []
    rows = con.execute(
        """
        SELECT f.source, f.file_path, f.file_date, f.column_name, f.rows,
               f.null_share, f.distinct_count, f.median, f.p95, f.mean,
               count(h.file_path), min(h.null_share), max(h.null_share), min(h.distinct_count), max(h.distinct_count),
               min(h.median), max(h.median), min(h.p95), max(h.p95), min(h.mean), max(h.mean)
        FROM raw.field_profiles AS f
        JOIN raw.field_profiles AS h
          ON h.source = f.source AND h.column_name = f.column_name
         AND h.file_date >= f.file_date - INTERVAL (?) DAY AND h.file_date < f.file_date
        WHERE f.file_date BETWEEN ? AND ? AND f.rows >= ?
        GROUP BY ALL
        HAVING count(h.file_path) >= ?
        ORDER BY f.file_date, f.source, f.file_path, f.column_name
        """,
        [FIELD_HEALTH_HISTORY_DAYS, first, last, FIELD_HEALTH_MIN_ROWS, FIELD_HEALTH_MIN_HISTORY],
    ).fetchall()
    return [finding for row in rows for finding in _findings(row)]


def _findings(row: tuple) -> list[Finding]:
    source, path, day, column, rows, null_share, distinct, *today = row[:10]
    history, null_low, null_high, distinct_low, distinct_high, *ranges = row[10:]
    found = []
    if null_share > null_high + FIELD_HEALTH_MAX_NULL_SHARE_RISE:
        found.append(Finding(source, path, day, column, "null_share", null_share, null_low, null_high, history))
    filled = rows * (1 - null_share)
    if distinct == 1 and filled >= FIELD_HEALTH_MIN_ROWS and distinct_low >= FIELD_HEALTH_MIN_DISTINCT:
        # One value in every row of a column that always varied: a default filled in, a column shifted.
        found.append(Finding(source, path, day, column, "distinct_count", 1, distinct_low, distinct_high, history))
    for statistic, value, low, high in zip(NUMERIC_STATISTICS, today, ranges[0::2], ranges[1::2], strict=True):
        if value is not None and low is not None and _outside(float(value), float(low), float(high)):
            found.append(Finding(source, path, day, column, statistic, float(value), float(low), float(high), history))
    return found


def _outside(value: float, low: float, high: float) -> bool:
    """Outside [low / F, high * F] for a positive statistic; for one that can be zero or negative
    (a quantity with refunds), outside the range widened by (F - 1) times its largest magnitude."""
    factor = FIELD_HEALTH_MAX_FACTOR
    if low > 0:
        return value < low / factor or value > high * factor
    slack = (factor - 1) * max(abs(low), abs(high), 1.0)
    return not math.isfinite(value) or value < low - slack or value > high + slack


def health_window(as_of: date, lookback_days: int) -> tuple[date, date]:
    """The files whose health a run of `as_of` answers for: those of the days its incremental
    models recompute (the late-data lookback), so a suspect file flags the marts until it falls
    out of that window or is replaced."""
    return as_of - timedelta(days=lookback_days), as_of


def _has_profiles(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'raw' AND table_name = 'field_profiles'"
        ).fetchone()[0]
    )


def suspect_files(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, list[Finding]]:
    """The files of the days a run of `as_of` recomputes whose loaded rows fail field health."""
    first, last = health_window(as_of, int(business_definitions()["late_data_lookback_days"]))
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in field_health(con, first, last):
        by_file[finding.file_path].append(finding)
    return dict(by_file)


def quality_state(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[str, list[dict[str, object]]]:
    """`suspect` with the findings when a file the marts of `as_of` rest on fails field health,
    else `trusted`."""
    findings = [f.as_record() for found in suspect_files(con, as_of).values() for f in found]
    return (SUSPECT if findings else TRUSTED), findings
