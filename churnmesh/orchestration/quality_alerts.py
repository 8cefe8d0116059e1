"""Alerts about the files themselves, sent right after ingestion, before SQLMesh updates the marts:
files rejected whole, files with a quarantine spike, and files whose loaded rows fail field health
(churnmesh/data_quality.py).

Each alert is about one version of one file: it is filed under the file's own date and keyed by
its path and checksum, so it is sent once however many daily runs see the file, and a corrected
version of the file alerts again if it is wrong too.
"""

from __future__ import annotations

from datetime import date

import duckdb

from churnmesh import data_quality
from churnmesh.data_quality import QUARANTINE_MAX_SHARE, QUARANTINE_MIN_ROWS, QUARANTINE_TOP_REASONS, SUSPECT
from churnmesh.orchestration.notify import Alert
from churnmesh.query import literal, quoted


def _key(path: str, checksum: str) -> str:
    return f"{path}#{checksum[:12]}"


def rejected_files(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    """One alert per file rejected whole: its name, the reason, and how a corrected file gets in."""
    rows = con.execute(
        "SELECT file_path, source, file_date, checksum, rows_in, reason FROM raw.ingest_manifest "
        "WHERE status = 'rejected' ORDER BY file_date, file_path"
    ).fetchall()
    return [
        Alert(
            day or as_of,
            "rejected_file",
            _key(path, checksum),
            f"{path} rejected whole: {reason}",
            (
                f"Nothing of it is loaded ({rows:,} data lines): {source} has nothing from it until a corrected "
                "file arrives.",
                f"To load a corrected export, put it in the landing folder under the same name ({path}): the next "
                "run (or `churnmesh ingest`) loads it. A file rejected whole loaded nothing, so it needs no --replace.",
            ),
            {"source": source, "file": path, "file_date": str(day), "reason": reason, "rows": rows},
        )
        for path, source, day, checksum, rows, reason in rows
    ]


def quarantine_spikes(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    """One alert per loaded file with more than QUARANTINE_MAX_SHARE of its rows quarantined."""
    rows = con.execute(
        "SELECT file_path, source, file_date, checksum, rows_in, rows_rejected FROM raw.ingest_manifest "
        "WHERE status = 'loaded' AND rows_rejected >= ? AND rows_rejected > ? * rows_in "
        "ORDER BY file_date, file_path",
        [QUARANTINE_MIN_ROWS, QUARANTINE_MAX_SHARE],
    ).fetchall()
    alerts = []
    for path, source, day, checksum, rows_in, rejected in rows:
        reasons = top_reasons(con, source, path)
        share = rejected / rows_in
        alerts.append(
            Alert(
                day or as_of,
                "quarantine",
                _key(path, checksum),
                f"{path}: {rejected:,} of {rows_in:,} rows quarantined "
                f"({share:.0%}, above {QUARANTINE_MAX_SHARE:.0%}); "
                "top reasons: " + "; ".join(f"{reason} ({n:,})" for reason, n in reasons),
                (f"The rows are in quarantine.{source} with their reasons (WHERE _source_file = {literal(path)}).",),
                {
                    "source": source,
                    "file": path,
                    "file_date": str(day),
                    "rows": rows_in,
                    "quarantined": rejected,
                    "share": round(share, 4),
                    "top_reasons": [{"reason": r, "rows": n} for r, n in reasons],
                },
            )
        )
    return alerts


def top_reasons(con: duckdb.DuckDBPyConnection, source: str, path: str) -> list[tuple[str, int]]:
    """The most frequent reasons a file's rows were quarantined, quoted values left out so that
    `credit_score: '200' is below...` and `credit_score: '250' is below...` count as one."""
    return con.execute(
        f"""
        SELECT regexp_replace(_reject_reason, '''[^'']*''', '''...''', 'g') AS reason, count(*) AS n
        FROM {quoted("quarantine", source)} WHERE _source_file = ?
        GROUP BY 1 ORDER BY n DESC, reason LIMIT ?
        """,
        [path, QUARANTINE_TOP_REASONS],
    ).fetchall()


def field_health(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    """One alert per suspect file: the source, the file, each column and figure against its
    trailing days, and the flag the marts of `as_of` carry."""
    checksums = dict(con.execute("SELECT file_path, checksum FROM raw.ingest_manifest").fetchall())
    alerts = []
    for path, findings in data_quality.suspect_files(con, as_of).items():
        first = findings[0]
        columns = sorted({f.column for f in findings})
        alerts.append(
            Alert(
                first.file_date,
                "field_health",
                _key(path, checksums.get(path, "")),
                f"field health: {first.source} file {path} looks unlike its trailing "
                f"{data_quality.FIELD_HEALTH_HISTORY_DAYS} days in {', '.join(columns)}: "
                + "; ".join(f.describe() for f in findings),
                (
                    f"Its rows are loaded and in the marts as of {as_of}, which are published flagged "
                    f"data_quality = '{SUSPECT}' (churnmesh.about) until the file is corrected or leaves the "
                    "days the daily run recomputes.",
                    f"If the export is wrong, put the corrected file in place of {path} and run "
                    "`churnmesh ingest --replace`: the next daily run restates the days it changes.",
                ),
                {
                    "source": first.source,
                    "file": path,
                    "file_date": first.file_date.isoformat(),
                    "columns": columns,
                    "findings": [f.as_record() for f in findings],
                },
            )
        )
    return alerts


def quality_alerts(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Alert]:
    return [*rejected_files(con, as_of), *quarantine_spikes(con, as_of), *field_health(con, as_of)]
