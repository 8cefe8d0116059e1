"""The tables ingestion owns in the warehouse: raw.<source>, quarantine.<source> and
raw.ingest_manifest. Their columns come from the contracts."""

from __future__ import annotations

import duckdb

from churnmesh.contracts import SOURCES, Source
from churnmesh.data_quality import ensure_profiles_table
from churnmesh.query import quoted

DUCKDB_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}

# Lineage carried by every raw row: which file and record it came from, the hash of its text
# (identical rows are loaded once) and when it was ingested.
RAW_LINEAGE = (
    "_source_file VARCHAR NOT NULL",
    "_row_number BIGINT NOT NULL",
    "_row_hash VARCHAR NOT NULL",
    "_ingested_at TIMESTAMP NOT NULL",
)
QUARANTINE_LINEAGE = (
    "_source_file VARCHAR NOT NULL",
    "_row_number BIGINT NOT NULL",
    "_raw_line VARCHAR",
    "_reject_reason VARCHAR NOT NULL",
    "_ingested_at TIMESTAMP NOT NULL",
)

MANIFEST_DDL = """
CREATE TABLE IF NOT EXISTS raw.ingest_manifest (
    file_path VARCHAR PRIMARY KEY,   -- relative to the landing folder, e.g. orders/2024-01-05.csv
    source VARCHAR NOT NULL,
    file_date DATE,
    checksum VARCHAR NOT NULL,       -- sha256 of the file's bytes
    size_bytes BIGINT NOT NULL,
    rows_in BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'skipped')),
    reason VARCHAR,
    extra_columns VARCHAR,
    ingested_at TIMESTAMP NOT NULL,
    -- size:mtime:ctime:inode:device of the file when its checksum was taken (null if it was
    -- still changing): a file with the same stamp is not read again to be hashed.
    file_stamp VARCHAR,
    CHECK (status <> 'loaded' OR rows_in = rows_loaded + rows_rejected + rows_duplicate)
)
"""
# Warehouses made before file_stamp existed gain it (null: their files are hashed once more).
MANIFEST_MIGRATIONS = ("ALTER TABLE raw.ingest_manifest ADD COLUMN IF NOT EXISTS file_stamp VARCHAR",)


def raw_table(source: Source) -> str:
    """raw.<source>: a contract's source name (vocabulary.SOURCE_NAMES, lower-case words)."""
    return f"raw.{source.name}"


def quarantine_table(source: Source) -> str:
    """quarantine.<source>, as raw_table."""
    return f"quarantine.{source.name}"


def raw_columns_ddl(source: Source) -> list[str]:
    return [f"{quoted(c.name)} {DUCKDB_TYPES[c.kind]}" for c in source.columns]


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    con.execute(MANIFEST_DDL)
    for migration in MANIFEST_MIGRATIONS:
        con.execute(migration)
    for source in SOURCES:
        columns = ", ".join([*raw_columns_ddl(source), *RAW_LINEAGE])
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(source)} ({columns})")
        text_columns = ", ".join([*(f"{quoted(name)} VARCHAR" for name in source.column_names), *QUARANTINE_LINEAGE])
        con.execute(f"CREATE TABLE IF NOT EXISTS {quarantine_table(source)} ({text_columns})")
    ensure_profiles_table(con)


def external_models_yaml() -> str:
    """The raw tables as SQLMesh external models (external_models.yaml), from the contracts."""
    lines = [
        "# The raw tables ingestion writes, declared for SQLMesh. Generated from churnmesh/contracts.py",
        "# by `churnmesh external-models`; a test keeps it in step with the contracts.",
    ]
    for source in SOURCES:
        lines += [
            f"- name: {raw_table(source)}",
            f"  description: Valid rows of the {source.name} landing files.",
            "  columns:",
        ]
        lines += [f"    {c.name}: {DUCKDB_TYPES[c.kind]}" for c in source.columns]
        lines += [f"    {d.split()[0]}: {d.split()[1]}" for d in RAW_LINEAGE]
    return "\n".join(lines) + "\n"
