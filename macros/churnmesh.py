"""Macros shared by the models."""

from __future__ import annotations

from datetime import date, timedelta

from sqlglot import exp, parse_one
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

from churnmesh.watermark import MANIFEST_EXISTS_SQL, WATERMARK_SQL


@macro()
def file_date(evaluator: MacroEvaluator, source_file: exp.Expression) -> exp.Expression:
    """The business date of a landing file, from its path (orders/2024-01-05.csv -> 2024-01-05)."""
    return exp.cast(
        exp.func(
            "regexp_extract", source_file, exp.Literal.string("([0-9]{4}-[0-9]{2}-[0-9]{2})"), exp.Literal.number(1)
        ),
        exp.DataType.build("DATE"),
    )


@macro()
def as_of_date(evaluator: MacroEvaluator) -> exp.Expression:
    """The date a full (non-incremental) model describes: the day before the run's execution time,
    but never past the data watermark (churnmesh/watermark.py).

    The execution time is a parameter of every plan and run (churnmesh passes as_of + 1 day), so a
    model never reads the clock. A plain `sqlmesh run` takes the clock as its execution time: the
    signal in signals/ keeps its intervals within the watermark, and this keeps what a full model
    describes there too. Rerunning with the same execution time and data gives the same numbers.
    """
    day = date.fromisoformat(str(evaluator.locals.get("execution_ds"))) - timedelta(days=1)
    # The warehouse is reachable only once models run; a unit test's has no manifest.
    if evaluator.runtime_stage != "loading" and evaluator.engine_adapter.fetchall(MANIFEST_EXISTS_SQL)[0][0]:
        limit = evaluator.engine_adapter.fetchall(WATERMARK_SQL)[0][0]
        if limit is not None and str(limit)[:10] < day.isoformat():
            day = date.fromisoformat(str(limit)[:10])
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))


@macro()
def latest_version(evaluator: MacroEvaluator, *keys: exp.Expression) -> exp.Expression:
    """True on the version of each key to keep: the row from the latest landing file (file names
    start with their date), the last one in that file. For QUALIFY, over rows with _source_file
    and _row_number."""
    partition = ", ".join(key.sql(dialect="duckdb") for key in keys)
    return parse_one(
        f"ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY _source_file DESC, _row_number DESC) = 1",
        dialect="duckdb",
    )


@macro()
def data_watermark(evaluator: MacroEvaluator) -> exp.Expression:
    """The data watermark as a scalar subquery on ingestion's manifest (NULL until every source
    has delivered), for audits that check no row is dated past the data."""
    return exp.paren(parse_one(WATERMARK_SQL, dialect="duckdb"))
