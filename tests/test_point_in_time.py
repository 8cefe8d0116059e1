"""Features of a past day: the project's models rendered for that day with the full models inlined,
and the snapshot joined, ordered and checked for its date. tests/test_scoring.py trains on such
snapshots of a built warehouse."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlglot import exp
from sqlmesh import Context
from sqlmesh.core.context import ExecutionContext
from sqlmesh.core.snapshot import DeployabilityIndex, SnapshotChangeCategory

from churnmesh.scoring.point_in_time import (
    FEATURES_MODEL,
    LIFECYCLE_COLUMNS,
    LIFECYCLE_MODEL,
    execution_renderer,
    render_as_of,
    snapshot_from,
)
from tests.sqlmesh_unit import project_context

COMMENT = re.compile(r" /\*.*?\*/", re.DOTALL)
TABLE = re.compile(r'"warehouse"\."([a-z_]+)"\."([a-z_0-9]+)"')


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    with project_context(Path(tmp_path_factory.mktemp("pit"))) as context:
        yield context


def test_a_past_day_reads_the_incremental_tables_and_inlines_the_full_models(context: Context) -> None:
    sql = render_as_of(context, FEATURES_MODEL, date(2024, 6, 30))
    read = {f"{schema}.{name}" for schema, name in TABLE.findall(sql)}
    full = {m.name.replace('"', "") for m in context.models.values() if m.kind.is_full}
    assert not read & full, f"full models read as tables, not rendered for the day: {read & full}"
    assert {"intermediate.int_customer_daily_metrics", "core.fct_orders"} <= read
    assert "2024-06-30" in sql and "2025-" not in sql
    assert "2024-03-31" in render_as_of(context, FEATURES_MODEL, date(2024, 3, 31))


def _fetch(con: duckdb.DuckDBPyConnection) -> Callable[[str], pd.DataFrame]:
    return lambda sql: con.execute(sql).df()


def test_the_snapshot_joins_features_and_lifecycle_in_customer_order() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE f AS SELECT * FROM (VALUES ('C3', DATE '2024-06-30', 5), ('C1', DATE '2024-06-30', 7), "
        "('C2', DATE '2024-06-30', 1)) AS t(customer_id, as_of_date, frequency)"
    )
    con.execute(
        "CREATE TABLE l AS SELECT * FROM (VALUES ('C1', 'active', 10, 'low', 'none', 'x'), "
        "('C3', 'dormant', 50, 'medium', 'no order in 40 days', 'x')) "
        "AS t(customer_id, lifecycle_stage, risk_score, risk_level, primary_risk_reason, not_taken)"
    )
    tables = {FEATURES_MODEL: "f", LIFECYCLE_MODEL: "l"}
    rendered: list[tuple[str, date]] = []

    def render(model: str, as_of: date) -> str:
        rendered.append((model, as_of))
        return f"SELECT * FROM {tables[model]}"

    snapshot = snapshot_from(render, _fetch(con), date(2024, 6, 30))
    assert rendered == [(FEATURES_MODEL, date(2024, 6, 30)), (LIFECYCLE_MODEL, date(2024, 6, 30))]
    assert list(snapshot.columns) == ["customer_id", "as_of_date", "frequency", *LIFECYCLE_COLUMNS]
    assert list(snapshot["customer_id"]) == ["C1", "C3"]  # C2 has no lifecycle row: not scored
    assert list(snapshot.index) == [0, 1]
    assert snapshot.loc[1, "risk_level"] == "medium" and snapshot.loc[1, "frequency"] == 5
    with pytest.raises(RuntimeError) as info:
        snapshot_from(render, _fetch(con), date(2024, 7, 1))
    assert str(info.value) == "features rendered for 2024-07-01 describe another date (2024-06-30 00:00:00)"
    con.execute("DELETE FROM f WHERE customer_id <> 'C1'")  # one customer: the message still names the date
    with pytest.raises(RuntimeError, match=r"describe another date \(2024-06-30 00:00:00\)$"):
        snapshot_from(render, _fetch(con), date(2024, 7, 1))


def test_inside_a_model_a_past_day_renders_the_same_query_on_the_tables_sqlmesh_hands_over(context: Context) -> None:
    """execution_renderer, given the ExecutionContext SQLMesh gives a Python model: the same query
    as render_as_of, each view replaced by the physical table of the snapshot in use (so a dev
    environment reads its own versions), and no model but the one asked for as its top query."""
    snapshots = {s.name: s for s in context.snapshots.values()}
    for snapshot in snapshots.values():  # as a first plan would: each a new version with its own table
        snapshot.categorize_as(SnapshotChangeCategory.BREAKING)
    inside = ExecutionContext(context.engine_adapter, snapshots, DeployabilityIndex.all_deployable(), "duckdb")
    render = execution_renderer(inside)
    for model, day in ((FEATURES_MODEL, date(2024, 6, 30)), (LIFECYCLE_MODEL, date(2024, 3, 31))):
        # Comments aside: SQLMesh notes the model's name beside each physical table.
        sql, views = COMMENT.sub("", render(model, day)), COMMENT.sub("", render_as_of(context, model, day))
        read = {f"{schema}.{name}" for schema, name in TABLE.findall(sql)}
        assert read and all(schema.startswith("sqlmesh__") for schema in {r.split(".")[0] for r in read}), read
        for snapshot in snapshots.values():
            if snapshot.is_model:
                physical = snapshot.table_name(is_deployable=True)
                view = exp.to_table(snapshot.name).sql(dialect="duckdb", identify=True)
                sql = sql.replace(exp.to_table(physical).sql(dialect="duckdb", identify=True), view)
        assert sql == views
        assert day.isoformat() in sql
