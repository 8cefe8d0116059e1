"""Building the SQLMesh warehouse from Python (the API, not the CLI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb

from churnmesh.settings import PROJECT_ROOT, DataPaths

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")

from sqlmesh import Context


def execution_time(as_of: date) -> datetime:
    """Models describe the day before their execution time (see macros/churnmesh.py)."""
    return datetime.combine(as_of + timedelta(days=1), time.min)


@contextmanager
def sqlmesh_context(paths: DataPaths, gateway: str | None = None, project: Path = PROJECT_ROOT) -> Iterator[Context]:
    """A SQLMesh context on the project whose data files live under `paths` (absolute)."""
    os.environ["CHURNMESH_DATA_DIR"] = str(paths.root)
    paths.root.mkdir(parents=True, exist_ok=True)
    context = Context(paths=str(project), gateway=gateway)
    try:
        yield context
    finally:
        context.close()


@dataclass(frozen=True)
class BuildResult:
    as_of: date
    mart_rows: dict[str, int]


MARTS = (
    "marts.mart_customer_360",
    "marts.mart_clv",
    "marts.mart_churn_risk",
    "marts.mart_customer_segments",
    "marts.mart_retention_cohorts",
    "marts.mart_category_ltv",
    "marts.mart_churn_support_analysis",
    "marts.mart_ticket_analytics",
    "marts.mart_top_root_causes",
    "marts.mart_app_version_impact",
    "metrics.metric_customer_ltv",
    "metrics.metric_mom_spend_change",
    "metrics.metric_avg_transaction_value",
)


def build_prod(paths: DataPaths, as_of: date, project: Path = PROJECT_ROOT, gateway: str | None = None) -> BuildResult:
    """Apply the prod plan (first time) and run every interval up to `as_of`. Audits block."""
    with sqlmesh_context(paths, gateway, project) as context:
        context.plan("prod", execution_time=execution_time(as_of), no_prompts=True, auto_apply=True)
        context.run(execution_time=execution_time(as_of))
    return BuildResult(as_of, count_rows(paths, MARTS))


def count_rows(paths: DataPaths, tables: tuple[str, ...]) -> dict[str, int]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()
