"""Test helpers: fingerprints of warehouse tables and hand-written landing files."""

from __future__ import annotations

from pathlib import Path

import duckdb

from churnmesh.contracts import SOURCES
from churnmesh.settings import PROJECT_ROOT

INGEST_TABLES = ("raw.ingest_manifest", *(f"raw.{s.name}" for s in SOURCES), *(f"quarantine.{s.name}" for s in SOURCES))
CDNOW = PROJECT_ROOT / "tests" / "fixtures" / "CDNOW_sample.txt"
# `churnmesh clv fit` on the CDNOW sample with the calibration period of Fader, Hardie & Lee (2005).
CDNOW_CLV_FIT = (
    "clv",
    "fit",
    str(CDNOW),
    "--sep",
    "whitespace",
    "--no-header",
    "--customer-col",
    "0",
    "--date-col",
    "2",
    "--amount-col",
    "4",
    "--date-format",
    "%Y%m%d",
    "--calibration-end",
    "1997-09-30",
)
# Columns that record when a load ran or the file system's stamp of a landing file, not what was loaded.
LOAD_STATE_COLUMNS = ("_ingested_at", "ingested_at", "file_stamp")


def fingerprint(warehouse: Path, tables: tuple[str, ...] = INGEST_TABLES) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content digest per table, ignoring LOAD_STATE_COLUMNS."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        result = {}
        for table in tables:
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            ignored = [c for c in columns if c in LOAD_STATE_COLUMNS]
            projection = f"* EXCLUDE ({', '.join(ignored)})" if ignored else "*"
            count, digest = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r::VARCHAR, chr(10) ORDER BY r::VARCHAR), '')) "
                f"FROM (SELECT {projection} FROM {table}) r"
            ).fetchone()
            result[table] = (count, digest)
        return result
    finally:
        con.close()


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def withdraw_files(warehouse: Path, landing: Path, rels: list[str], keep_in: Path | None = None) -> None:
    """Landing files as if they had never arrived: moved to `keep_in` (or deleted), and their rows
    and manifest records taken out of the ingestion tables. Files load in date order, so no earlier
    file's rows or accounting depend on later ones."""
    for rel in rels:
        path = landing / rel
        if keep_in is None:
            path.unlink()
        else:
            (keep_in / rel).parent.mkdir(parents=True, exist_ok=True)
            path.rename(keep_in / rel)
    con = duckdb.connect(str(warehouse))
    try:
        for table in INGEST_TABLES[1:]:
            con.execute(f"DELETE FROM {table} WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))", [rels])
        con.execute("DELETE FROM raw.ingest_manifest WHERE file_path IN (SELECT unnest(?::VARCHAR[]))", [rels])
        con.execute("CHECKPOINT")
    finally:
        con.close()
