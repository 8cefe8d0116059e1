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
