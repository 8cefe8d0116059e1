"""Changes behind the lookback, found in the data and restated through SQLMesh after the daily run.

An incremental model (INCREMENTAL_BY_TIME_RANGE: core.fct_orders, core.fct_sessions,
intermediate.int_customer_daily_metrics) re-reads only its lookback each run, and a run can only
write rows dated inside its interval. Whatever changes its inputs further back stays out:
- a customer profile that arrives after the lookback releases the customer's held orders,
  sessions and tickets (core.orphan_facts), dated before the lookback;
- `churnmesh ingest --replace` of an old file changes, adds or deletes rows of its dates;
- rows (orders, sessions, tickets) arriving later than the lookback.
The FULL facts (tickets, subscriptions, loyalty, revenue) recompute every run and need nothing.

What is pending is derived from the data alone, never from a log: for each incremental model of
prod, its own query (prod's definition, rendered over its whole history as of the warehouse's
as-of) is compared with what its table holds; the days where the two differ are the days to
restate. A restatement makes them equal, so the tables themselves record what was restated:
nothing is redone, and a crash anywhere (before the restatement, during it, after it) leaves a
state from which the next call restates exactly what is still different. A log written beside
the restatement could be left half written by that crash and would then disagree with the data.
This also covers any other way a table can drift from its inputs (a crashed plan), and the
model's SQL is the only definition of what it should hold: no second copy of its logic here.

The price is one pass over each incremental model's inputs per daily run (the full history of
orders and sessions, deduplicated); `differing_days` keeps it to one query per model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sqlmesh import Context
from sqlmesh.core.snapshot import Snapshot

from churnmesh.query import quoted, quoted_name
from churnmesh.settings import PROJECT_ROOT, DataPaths, data_paths
from churnmesh.warehouse import execution_time
from churnmesh.watermark import as_date

log = logging.getLogger("churnmesh.late_changes")

# Days to restate that are this close are restated by one plan (the days between them too): each
# plan rebuilds every FULL model downstream, which costs more than re-reading a few more days of
# an incremental model in the same batch.
MERGE_GAP_DAYS = 31
# Under the data folder while restatements run (see restate_in).
INTERRUPTED_MARKER = "restatement_in_progress.txt"
# Sums over the same rows in another order differ in their last bits; not a change of the data.
FLOAT_DECIMALS = 6
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


class Connection(Protocol):
    """A DuckDB connection (anything with `execute(sql, parameters).fetchall()`)."""

    def execute(self, query: str, parameters: Any = ...) -> Any: ...


@dataclass(frozen=True)
class IncrementalModel:
    """An incremental model of prod, with its query over the whole history it holds."""

    name: str  # schema.model, the prod view
    time_column: str
    columns: tuple[str, ...]
    first_day: date
    last_day: date
    query: str  # its own SQL rendered for [first_day, last_day], reading the prod views


@dataclass(frozen=True)
class Restatement:
    """One restatement plan: `models` (and everything downstream) over [start, end]."""

    models: tuple[str, ...]
    start: date
    end: date
    days: tuple[date, ...]  # the days that differed (the others in [start, end] are restated too)
    rows: int  # rows that differed: in the query and not the table, or the other way round


def differing_days(con: Connection, model: IncrementalModel) -> dict[date, int]:
    """Rows that differ between the model's query and its table, per day of its time column."""
    types = _column_types(con, model.name)
    columns = ", ".join(_compared(column, types.get(column, "")) for column in model.columns)
    held = f"SELECT {columns} FROM {quoted_name(model.name)} WHERE {quoted(model.time_column)} BETWEEN ? AND ?"
    expected = f"SELECT {columns} FROM ({model.query}) AS q"
    rows = con.execute(
        f"""
        WITH held AS ({held}), expected AS ({expected}),
             differing AS (
               (SELECT * FROM expected EXCEPT ALL SELECT * FROM held)
               UNION ALL
               (SELECT * FROM held EXCEPT ALL SELECT * FROM expected))
        SELECT CAST({quoted(model.time_column)} AS DATE) AS day, count(*) FROM differing GROUP BY ALL ORDER BY day
        """,
        [model.first_day, model.last_day],
    ).fetchall()
    return {as_date(day): int(count) for day, count in rows}


def pending_restatements(con: Connection, models: Sequence[IncrementalModel]) -> list[Restatement]:
    """The restatements that would make every model's table equal its query: the days where they
    differ, grouped into ranges (MERGE_GAP_DAYS). Only reads."""
    per_model = {model.name: differing_days(con, model) for model in models}
    return group_days(per_model)


def group_days(per_model: dict[str, dict[date, int]]) -> list[Restatement]:
    """Days to restate per model -> one Restatement per cluster of days, naming only the models
    with a day in it."""
    days = sorted({day for differing in per_model.values() for day in differing})
    restatements = []
    for cluster in _clusters(days):
        first, last = cluster[0], cluster[-1]
        models = tuple(name for name, differing in per_model.items() if any(first <= day <= last for day in differing))
        rows = sum(n for differing in per_model.values() for day, n in differing.items() if first <= day <= last)
        restatements.append(Restatement(models, first, last, tuple(cluster), rows))
    return restatements


def _clusters(days: list[date]) -> list[list[date]]:
    clusters: list[list[date]] = []
    for day in days:
        if clusters and (day - clusters[-1][-1]).days <= MERGE_GAP_DAYS:
            clusters[-1].append(day)
        else:
            clusters.append([day])
    return clusters


def incremental_models(context: Context, as_of: date) -> list[IncrementalModel]:
    """The incremental models of prod that can be restated, each with prod's own query rendered
    over the days SQLMesh has built, as of `as_of` (the FULL models it reads describe that day)."""
    environment = context.state_reader.get_environment("prod")
    if environment is None:
        return []
    snapshots = context.state_reader.get_snapshots([s.snapshot_id for s in environment.snapshots])
    return [model for s in snapshots.values() if (model := _incremental_model(s, as_of)) is not None]


def _incremental_model(snapshot: Snapshot, as_of: date) -> IncrementalModel | None:
    model = snapshot.model
    kind = model.kind
    # Python models cannot be rendered to SQL: churn scores are restated with the facts they
    # read, as their downstream, and recomputed point in time.
    if not kind.is_incremental_by_time_range or kind.disable_restatement:
        return None
    if not snapshot.intervals or model.columns_to_types is None or not hasattr(model, "query"):
        return None
    first_day = pd.Timestamp(snapshot.intervals[0][0], unit="ms").date()
    last_day = min(as_of, pd.Timestamp(snapshot.intervals[-1][1], unit="ms").date() - timedelta(days=1))
    # Rendered without snapshots: references stay the prod views (schema.model), so the query
    # reads exactly what prod shows.
    query = model.render_query_or_raise(start=first_day, end=last_day, execution_time=execution_time(as_of))
    name = ".".join(part.strip('"') for part in model.fqn.split(".")[-2:])
    return IncrementalModel(
        name,
        kind.time_column.column.name,
        tuple(model.columns_to_types),
        first_day,
        last_day,
        query.sql(dialect="duckdb"),
    )


def restate_in(context: Context) -> list[Restatement]:
    """Restate, in an open context on prod, every pending range (after the day's `context.run`).
    FULL models downstream are rebuilt as of the warehouse's current day (built_as_of): never an
    older one, and never a day the run did not reach.

    A restatement killed after its incremental batches leaves tables that equal their queries
    but FULL models downstream that were not rebuilt. A marker file is written before restating
    and removed after; found on the next call, it adds a restatement of the current day, which
    rebuilds everything downstream (the marker only ever causes work that is safe to repeat)."""
    # Imported here: refresh.py calls this module from refresh_warehouse, and operations imports it.
    from churnmesh.orchestration.operations import built_as_of

    current = built_as_of(context)
    if current is None:  # nothing built yet, so nothing to restate
        return []
    models = incremental_models(context, current)
    pending = pending_restatements(context.engine_adapter.cursor, models)
    marker = data_paths().root / INTERRUPTED_MARKER
    if marker.exists() and models:
        pending.append(Restatement(tuple(sorted(m.name for m in models)), current, current, (current,), 0))
    if pending:
        marker.write_text("\n".join(describe(pending)) + "\n")
    for restatement in pending:
        log.info(
            "restating %s from %s to %s: %d row(s) on %d day(s) differ from the models' inputs",
            ", ".join(restatement.models),
            restatement.start,
            restatement.end,
            restatement.rows,
            len(restatement.days),
        )
        _restate(context, restatement, current)
    marker.unlink(missing_ok=True)
    return pending


def _restate(context: Context, restatement: Restatement, as_of: date) -> None:
    plan = context.plan_builder(
        "prod",
        restate_models=list(restatement.models),
        start=restatement.start,
        end=restatement.end,
        execution_time=execution_time(as_of),
    ).build()
    # A plan of prod would also deploy any change of the local project; a restatement must not.
    if plan.context_diff.has_changes:
        raise RuntimeError("the project differs from prod: plan the change before restating late data")
    context.apply(plan)


def restate_pending(paths: DataPaths, as_of: date, project: Path = PROJECT_ROOT) -> list[Restatement]:
    """Restate every pending range of prod (its own SQLMesh context; audits block). Returns what
    was restated; a second call right after finds nothing. `as_of` is the day just run, named in
    the error when a restatement fails; the restatement itself is as of the warehouse's day."""
    from churnmesh.orchestration.refresh import WarehouseRefreshFailed, recorded_context

    with recorded_context(paths, None, project) as (context, collector, recorder):
        try:
            restated = restate_in(context)
        except Exception as exc:
            raise WarehouseRefreshFailed(
                as_of, collector.failures or [{"error": str(exc)}], recorder.evaluations
            ) from exc
    if collector.failures:
        raise WarehouseRefreshFailed(as_of, collector.failures, recorder.evaluations)
    return restated


def _compared(column: str, kind: str) -> str:
    """The column as compared: floating-point values rounded (see FLOAT_DECIMALS)."""
    if kind in FLOAT_TYPES:
        return f"round({quoted(column)}, {FLOAT_DECIMALS}) AS {quoted(column)}"
    return quoted(column)


def _column_types(con: Connection, table: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {quoted_name(table)}").fetchall()}


def describe(restatements: Iterable[Restatement]) -> list[str]:
    """One line per restatement, for logs and summaries."""
    return [
        f"{', '.join(r.models)} restated from {r.start} to {r.end} ({r.rows:,} row(s) on {len(r.days)} day(s))"
        for r in restatements
    ]
