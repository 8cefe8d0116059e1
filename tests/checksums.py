"""Order-independent content checksums of warehouse tables: what changed, and what did not.

A table's checksum is its row count with the XOR and the sum of a hash of every row. Both are
independent of row order; the sum also tells one copy of a row from three (XOR alone cancels
pairs). Hashes are DuckDB's, so checksums compare within one DuckDB version, which is all a test
needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import duckdb

# Columns that say which landing file a row came from, so that a file's rows can be left out.
FILE_COLUMNS = ("_source_file", "file_path")
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


class Checksum(NamedTuple):
    rows: int
    digest: str


def table_checksums(
    warehouse: Path,
    tables: Iterable[str],
    *,
    exclude_columns: Iterable[str] = (),
    leave_out: Iterable[str] = (),
    float_decimals: int | None = None,
) -> dict[str, Checksum]:
    """Checksum of each table without the `exclude_columns` and the rows of the landing files in
    `leave_out`. With `float_decimals`, floating-point values are rounded first: the same rows
    summed in another order (a restated table against a rebuilt one) may differ in the last bits."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {table: _checksum(con, table, set(exclude_columns), list(leave_out), float_decimals) for table in tables}
    finally:
        con.close()


def _checksum(
    con: duckdb.DuckDBPyConnection, table: str, excluded: set[str], leave_out: list[str], float_decimals: int | None
) -> Checksum:
    described = [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()]
    kept = ", ".join(_projection(name, kind, float_decimals) for name, kind in described if name not in excluded)
    file_column = next((c for c in FILE_COLUMNS if c in dict(described)), None)
    where, params = "", []
    if leave_out and file_column is not None:
        where = f'WHERE "{file_column}" IS NULL OR "{file_column}" NOT IN (SELECT unnest(?::VARCHAR[]))'
        params = [leave_out]
    rows, xor, total = con.execute(
        f"SELECT count(*), bit_xor(h), sum(h::HUGEINT) "
        f"FROM (SELECT hash(r) AS h FROM (SELECT {kept} FROM {table} {where}) AS r)",
        params,
    ).fetchone()
    return Checksum(rows, f"{xor or 0:016x}:{total or 0}")


def _projection(name: str, kind: str, float_decimals: int | None) -> str:
    if float_decimals is not None and kind.upper() in FLOAT_TYPES:
        return f'round("{name}", {float_decimals}) AS "{name}"'
    return f'"{name}"'
