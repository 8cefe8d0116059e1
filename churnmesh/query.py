"""`churnmesh query`: read answers from the marts without disturbing a running refresh.

`query customer C0000042` prints one customer's row of marts.mart_customer_360; `query segment
--by value_tier` aggregates customers, revenue at risk, value lost to churn and mean churn
probability per segment. Revenue at risk is the mart's own column (0 for churned customers, see
macros/risk.py), so the segments add up to the figure of every other mart and summary.
The environment and the group-by column are validated names, written into the SQL quoted
(`quoted`); every value (customer id, date, schema name looked up) is a bound parameter (`bind`).
The warehouse is opened read-only, under the shared side of the writer lock (see locking.py);
while a refresh holds it, the command retries briefly, then says the warehouse is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import duckdb

from churnmesh import parameters
from churnmesh.locking import WarehouseBusy, is_lock_error, reader_lock
from churnmesh.settings import DataPaths, data_paths

MART = "mart_customer_360"
WAIT_ENV = "CHURNMESH_QUERY_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 3
BUSY_MESSAGE = "warehouse is busy (a refresh is running); retry in a moment"
# Matches every as-of date when $as_of is NULL (no --as-of), only that date otherwise.
AS_OF_MATCHES = "(CAST($as_of AS DATE) IS NULL OR as_of_date = CAST($as_of AS DATE))"
Params = Sequence[object] | Mapping[str, object]


def cmd_query(args: argparse.Namespace) -> int:
    paths = data_paths()
    if not paths.warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: run `churnmesh pipeline` first")
    try:
        with read_only(paths) as con:
            table = mart_table(con, args.env)
            if args.query_command == "customer":
                columns, rows = customer_row(con, table, args.customer_id, args.as_of)
            else:
                columns, rows = segment_rows(con, table, args.by, args.as_of)
    except duckdb.Error as exc:  # e.g. a damaged file: one line, not a traceback
        raise ValueError(f"cannot read {paths.warehouse}: {str(exc).splitlines()[0]}") from exc
    print(render(columns, rows, args.format))
    return 0


def query_wait_seconds() -> int:
    configured = os.environ.get(WAIT_ENV)
    return DEFAULT_WAIT_SECONDS if configured is None else parameters.wait_seconds(configured, WAIT_ENV)


@contextmanager
def read_only(paths: DataPaths, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while a writer holds the file; WarehouseBusy after that."""
    wait = query_wait_seconds() if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    try:
        with reader_lock(paths, wait):
            while True:
                try:
                    con = duckdb.connect(str(paths.warehouse), read_only=True)
                    break
                except duckdb.IOException as exc:
                    # A writer that does not take churnmesh's lock (e.g. `sqlmesh plan`) holds the file.
                    if not is_lock_error(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise WarehouseBusy(BUSY_MESSAGE) from None
                    time.sleep(0.2)
            try:
                yield con
            finally:
                con.close()
    except WarehouseBusy:
        raise WarehouseBusy(BUSY_MESSAGE) from None


def quoted(*parts: str) -> str:
    """A name as SQL: each part double-quoted, a quote inside doubled ("marts"."mart_clv")."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def quoted_name(dotted: str) -> str:
    """`schema.table` as SQL, quoted part by part."""
    return quoted(*dotted.split("."))


_NAME_PART = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TABLE_NAME = re.compile(rf"{_NAME_PART}(?:\.{_NAME_PART}){{0,2}}")


def table_name(name: str) -> str:
    """A table name handed over as SQL (SQLMesh's resolved `"db"."schema"."table"`, or `schema.table`),
    returned unchanged once it is certain to be nothing but a name; anything else is refused."""
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"not a table name: {name!r}")
    return name


def literal(value: str | os.PathLike[str]) -> str:
    """Text as an SQL string literal, for where nothing binds a parameter (ATTACH, COMMENT ON,
    SQLMesh's fetchdf, a query shown to a person)."""
    return "'" + str(value).replace("'", "''") + "'"


def date_literal(day: date) -> str:
    """A date as an SQL DATE literal; only a date object is accepted, never text."""
    if type(day) is not date:
        raise TypeError(f"a DATE literal needs a date, not {type(day).__name__}")
    return f"DATE '{day.isoformat()}'"


class _PandasProbeGuard:
    """To bind any value but None, DuckDB's client first checks whether it is pandas.NaT, importing
    pandas (and numpy: 0.3 to 0.8 s) to do so; a lookup from the shell answers in a fraction of that.
    While a thread binds through `bind`, that import fails in that thread only, which DuckDB takes
    as "pandas is not installed": a pandas value cannot be among the parameters then anyway. A
    process that has imported pandas already is not affected (the import is found loaded)."""

    def __init__(self) -> None:
        self.binding = threading.local()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if getattr(self.binding, "active", False) and name.partition(".")[0] in ("pandas", "numpy"):
            raise ModuleNotFoundError(f"{name} is not imported to bind a parameter", name=name)


_GUARD = _PandasProbeGuard()


def bind(con: duckdb.DuckDBPyConnection, sql: str, params: Params) -> duckdb.DuckDBPyConnection:
    """`con.execute(sql, params)`: values reach DuckDB as bound parameters, without the pandas import."""
    if _GUARD not in sys.meta_path:  # installed once, by the first bind; inert outside one
        sys.meta_path.insert(0, _GUARD)
    _GUARD.binding.active = True
    try:
        return con.execute(sql, params)
    finally:
        _GUARD.binding.active = False


def mart_table(con: duckdb.DuckDBPyConnection, environment: str) -> str:
    """The quoted name of the mart in `environment` (SQLMesh puts dev views in schema marts__dev)."""
    schema = "marts" if environment == "prod" else f"marts__{environment}"
    (found,) = bind(
        con,
        "SELECT count(*) FROM (SELECT schema_name, table_name AS name FROM duckdb_tables() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views()) WHERE schema_name = ? AND name = ?",
        [schema, MART],
    ).fetchone()
    if not found:
        where = (
            "the warehouse is not built yet" if environment == "prod" else f"environment {environment} is not planned"
        )
        raise ValueError(f"no {schema}.{MART}: {where}")
    return quoted(schema, MART)  # a validated name (ENVIRONMENT_PATTERN) the catalog just confirmed


def scored_model_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The churn model version that scored prod's marts (None before the first build, or unscored)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = 'mart_churn_risk' "
        "UNION ALL SELECT count(*) FROM duckdb_views() WHERE schema_name = 'marts' AND view_name = 'mart_churn_risk'"
    ).fetchall()
    if not any(count for (count,) in found):
        return None
    row = con.execute(
        "SELECT any_value(model_version) FROM marts.mart_churn_risk WHERE model_version IS NOT NULL"
    ).fetchone()
    return row[0] if row else None


def customer_row(
    con: duckdb.DuckDBPyConnection, table: str, customer: str, as_of: date | None
) -> tuple[list[str], list[tuple]]:
    """`table` is mart_table's quoted name; the customer id and the date are bound."""
    result = bind(
        con,
        f"SELECT * FROM {table} WHERE {AS_OF_MATCHES} AND customer_id = $customer",
        {"as_of": as_of, "customer": parameters.customer_id(customer)},
    )
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    if not rows:
        raise ValueError(f"no customer {customer} {_described(con, table, as_of)}")
    return columns, rows


def segment_rows(
    con: duckdb.DuckDBPyConnection, table: str, dimension: str, as_of: date | None
) -> tuple[list[str], list[tuple]]:
    column = quoted(parameters.segment_dimension(dimension))  # a name: checked, then quoted
    result = bind(
        con,
        f"""
        SELECT coalesce(CAST({column} AS VARCHAR), 'unscored') AS {column},
               count(*) AS customers,
               round(coalesce(sum(CAST(revenue_at_risk_usd AS DECIMAL(18, 2))), 0), 2) AS revenue_at_risk_usd,
               round(coalesce(sum(CAST(lost_clv_usd AS DECIMAL(18, 2))), 0), 2) AS lost_clv_usd,
               -- the churned are scored 1 by definition: they are lost, not a probability to act on
               round(avg(churn_probability) FILTER (WHERE lifecycle_stage <> 'churned'), 4)
                 AS mean_churn_probability
        FROM {table} WHERE {AS_OF_MATCHES}
        GROUP BY 1 ORDER BY revenue_at_risk_usd DESC, 1
        """,
        {"as_of": as_of},
    )
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    if not rows:
        raise ValueError(f"no customers {_described(con, table, as_of)}")
    return columns, rows


def _described(con: duckdb.DuckDBPyConnection, table: str, as_of: date | None) -> str:
    built = con.execute(f"SELECT max(as_of_date) FROM {table}").fetchone()[0]
    if as_of and built and built != as_of:
        return f"as of {as_of}: the warehouse describes {built}"
    return f"as of {built}" if built else "in the mart (it is empty)"


def json_ready(value: object) -> object:
    """A value as JSON can carry it: decimals as floats, dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def render(columns: list[str], rows: list[tuple], output: str) -> str:
    records = [{c: json_ready(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    if output == "json":
        return json.dumps(records[0] if len(records) == 1 and "customer_id" in columns else records, indent=2)
    if len(records) == 1 and "customer_id" in columns:  # one customer: a field per line
        width = max(len(c) for c in columns)
        return "\n".join(f"{c:<{width}}  {'' if v is None else v}" for c, v in records[0].items())
    return _grid(columns, [[_cell(r[c]) for c in columns] for r in records])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _grid(columns: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    return "\n".join(lines)
