"""What each refresh publishes for readers: a copy of prod's marts in a file of their own.

A DuckDB reader that holds the warehouse open blocks the next writer (DuckDB allows one writer
and no reader beside it), so the dashboard and the MCP server never open the warehouse. At the
end of every run that changes prod, while it still holds the writer lock, churnmesh copies the
PII-free outputs (schemas marts, metrics and scoring) with their table and column descriptions
into `<data dir>/published/readers.duckdb.tmp`, adds `churnmesh.about` (as-of date, watermark,
live churn model, row counts) and `churnmesh.model_card`, and renames it over
`published/readers.duckdb`. The rename is atomic: a reader sees the previous publication or the new
one, whole, and a reader still holding the previous file blocks nobody. A run killed before the
rename leaves only a `.tmp` file, which the next publication replaces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from churnmesh import data_quality, watermark
from churnmesh.contracts import pii_kept_out_of_marts
from churnmesh.faults import crash_point
from churnmesh.query import literal, quoted, scored_model_version
from churnmesh.scoring import artifacts
from churnmesh.settings import DataPaths

PUBLISHED_SCHEMAS = ("marts", "metrics", "scoring")
ABOUT = "churnmesh.about"
MODEL_CARD = "churnmesh.model_card"
KPI_HISTORY = "churnmesh.kpi_history"
WAREHOUSE_ALIAS = "warehouse"


class NotPublished(FileNotFoundError):
    """Nothing has been published yet: no refresh has built prod."""


@dataclass(frozen=True)
class Publication:
    path: Path
    as_of: date
    tables: dict[str, int]


def published_path(paths: DataPaths) -> Path:
    # Not "marts.duckdb": DuckDB names the catalog after the file, and a catalog "marts" would make
    # "marts.mart_clv" ambiguous.
    return paths.root / "published" / "readers.duckdb"


def publish(paths: DataPaths) -> Publication | None:
    """Publish prod's marts for readers; None while prod has no marts yet. The caller holds the
    writer lock (nothing writes the warehouse meanwhile)."""
    target = published_path(paths)
    staging = target.with_name(target.name + ".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove(staging)  # what a killed publication left
    try:
        written = _write(paths, staging)
    except BaseException:
        _remove(staging)
        raise
    if written is None:
        _remove(staging)
        return None
    crash_point("publication.before_swap")
    os.replace(staging, target)
    as_of, counts = written
    return Publication(target, as_of, counts)


def _remove(staging: Path) -> None:
    """The staging file and its write-ahead log: a log left beside a new file would be replayed into it."""
    for path in (staging, staging.with_name(staging.name + ".wal")):
        path.unlink(missing_ok=True)


def _write(paths: DataPaths, staging: Path) -> tuple[date, dict[str, int]] | None:
    con = duckdb.connect(str(staging))
    try:
        own_catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH {literal(paths.warehouse)} AS {WAREHOUSE_ALIAS} (READ_ONLY)")
        tables = _published_tables(con)
        if not tables:
            return None
        con.execute(f"USE {WAREHOUSE_ALIAS}")
        as_of, mark = watermark.prod_as_of(con), watermark.read(con)
        quality = data_quality.quality_state(con, watermark.as_date(as_of))
        con.execute(f"USE {quoted(own_catalog)}")
        counts = {table: _copy(con, table) for table in tables}
        model = scored_model_version(con) if "marts.mart_churn_risk" in counts else None
        _write_about(con, as_of, mark, model, counts, quality)
        _write_model_card(con, paths, model)
        con.execute(f"DETACH {WAREHOUSE_ALIAS}")
        _write_kpi_history(con, published_path(paths), as_of)
        con.execute("CHECKPOINT")
        return watermark.as_date(as_of), counts
    finally:
        con.close()


def _published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE database_name = ? AND list_contains(?, schema_name) ORDER BY 1",
        [WAREHOUSE_ALIAS, list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    return [name for (name,) in rows]


def _copy(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Copy one prod view as a table, with its descriptions; refuse a personal-data column."""
    schema, name = table.split(".")
    columns = con.execute(
        "SELECT column_name, comment FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [WAREHOUSE_ALIAS, schema, name],
    ).fetchall()
    personal = sorted({c for c, _ in columns if c.lower() in pii_kept_out_of_marts()})
    if personal:
        raise ValueError(f"{table} carries personal data ({', '.join(personal)}): not published")
    target = quoted(schema, name)  # names from the warehouse's catalog, quoted
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
    con.execute(f"CREATE TABLE {target} AS SELECT * FROM {quoted(WAREHOUSE_ALIAS, schema, name)}")
    (description,) = con.execute(
        "SELECT comment FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND view_name = ?",
        [WAREHOUSE_ALIAS, schema, name],
    ).fetchone()
    if description:
        con.execute(f"COMMENT ON TABLE {target} IS {literal(description)}")
    for column, comment in columns:
        if comment:
            con.execute(f"COMMENT ON COLUMN {quoted(schema, name, column)} IS {literal(comment)}")
    return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def _write_about(
    con: duckdb.DuckDBPyConnection,
    as_of: object,
    mark: watermark.Watermark,
    model: str | None,
    counts: dict[str, int],
    quality: tuple[str, list[dict[str, object]]],
) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS churnmesh")
    con.execute(
        f"CREATE TABLE {ABOUT} (as_of_date DATE, data_watermark DATE, newest_files JSON, "
        "churn_model_version VARCHAR, row_counts JSON, data_quality VARCHAR, data_quality_findings JSON)"
    )
    newest = json.dumps({k: str(v) for k, v in mark.newest_by_source.items()})
    state, findings = quality
    con.execute(
        f"INSERT INTO {ABOUT} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [as_of, mark.day, newest, model, json.dumps(counts), state, json.dumps(findings)],
    )
    con.execute(f"COMMENT ON TABLE {ABOUT} IS 'What this publication describes: one row'")
    con.execute(
        f"COMMENT ON COLUMN {ABOUT}.data_quality IS 'trusted, or suspect while a file of the days the run "
        "recomputes fails field health (data_quality_findings: source, file, column, statistic, figures)'"
    )


def _write_model_card(con: duckdb.DuckDBPyConnection, paths: DataPaths, version: str | None) -> None:
    """The live model's card (card.json of its version), so readers need no access to the models folder."""
    con.execute(f"CREATE TABLE {MODEL_CARD} (model_version VARCHAR, card JSON)")
    if version is not None:
        card = artifacts.read_card(paths, version)
        con.execute(f"INSERT INTO {MODEL_CARD} VALUES (?, ?)", [version, json.dumps(card, default=str)])
    con.execute(f"COMMENT ON TABLE {MODEL_CARD} IS 'The card of the churn model that scored the marts; empty if none'")


def _write_kpi_history(con: duckdb.DuckDBPyConnection, last: Path, as_of: object) -> None:
    """The snapshot KPIs of every as-of date published so far: the last publication's rows for
    other days, then this one's (a republished day replaces its row). The marts hold one day; this
    is how their figures get a trend."""
    from churnmesh.answers import snapshot_kpis_sql  # answers reads what this module writes

    con.execute("CREATE SCHEMA IF NOT EXISTS churnmesh")
    con.execute(f"CREATE TABLE {KPI_HISTORY} AS SELECT * FROM ({snapshot_kpis_sql()})")
    if last.is_file():
        con.execute(f"ATTACH {literal(last)} AS last_publication (READ_ONLY)")
        try:
            if _has_table(con, "last_publication", KPI_HISTORY):
                con.execute(
                    f"INSERT INTO {KPI_HISTORY} BY NAME SELECT * FROM last_publication.{KPI_HISTORY} "
                    "WHERE as_of_date <> ?",
                    [as_of],
                )
        finally:
            con.execute("DETACH last_publication")
    con.execute(f"COMMENT ON TABLE {KPI_HISTORY} IS 'The snapshot KPIs of each as-of date as it was published'")


def _has_table(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [catalog, schema, name],
        ).fetchone()[0]
    )


def open_published(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the latest publication. It never blocks a refresh."""
    path = published_path(paths)
    if not path.is_file():
        raise NotPublished(f"nothing is published in {path.parent} yet: run `churnmesh pipeline` first")
    return duckdb.connect(str(path), read_only=True)
