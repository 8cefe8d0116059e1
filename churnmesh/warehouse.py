"""Building the SQLMesh warehouse from Python (the API, not the CLI)."""

from __future__ import annotations

import ast
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb

from churnmesh import publication, state_guard
from churnmesh.query import quoted_name
from churnmesh.settings import PROJECT_ROOT, DataPaths

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")

from sqlmesh import Context
from sqlmesh.core.console import get_console, set_console

# Also done by the project's config.py; here too for contexts made before any config is loaded.
state_guard.install()


def execution_time(as_of: date) -> datetime:
    """Models describe the day before their execution time (see macros/churnmesh.py)."""
    return datetime.combine(as_of + timedelta(days=1), time.min)


CHURN_MODEL_ENV = "CHURNMESH_CHURN_MODEL_VERSION"
CHURN_SCORES_MODEL = "scoring.churn_scores"
NO_CHURN_MODEL = "none"


@contextmanager
def sqlmesh_context(
    paths: DataPaths,
    gateway: str | None = None,
    project: Path = PROJECT_ROOT,
    churn_model: str | None = None,
    notification_targets: list[Any] | None = None,
    console: Any = None,
) -> Iterator[Context]:
    """A SQLMesh context on the project whose data files live under `paths` (absolute).

    The churn model version (a SQLMesh variable read from the environment) is the one live in prod
    unless `churn_model` names another, so that a plan never switches it by accident."""
    if churn_model is None:
        churn_model = live_churn_model(paths, gateway, project)
    _use_data_dir(paths)
    os.environ[CHURN_MODEL_ENV] = churn_model
    previous_console = get_console()
    if console is not None:
        set_console(console)  # the context takes the global console when created
    try:
        context = Context(paths=str(project), gateway=gateway, notification_targets=notification_targets)
        try:
            yield context
        finally:
            _close(context)
    finally:
        set_console(previous_console)


def _close(context: Context) -> None:
    """Context.close() releases the engine only if a plan or run used it; queries (fetchdf,
    table_diff) hold it too, and an open DuckDB writer blocks every other process."""
    context.close()
    context.engine_adapter.close()


def _use_data_dir(paths: DataPaths) -> None:
    os.environ["CHURNMESH_DATA_DIR"] = str(paths.root)
    paths.root.mkdir(parents=True, exist_ok=True)


def live_churn_model(
    paths: DataPaths, gateway: str | None = None, project: Path = PROJECT_ROOT, environment: str = "prod"
) -> str:
    """The churn_model_version the environment's churn scores were planned with ("none" if none)."""
    _use_data_dir(paths)
    context = Context(paths=str(project), gateway=gateway, load=False)
    try:
        return _planned_variable(context, environment, CHURN_SCORES_MODEL, "churn_model_version") or NO_CHURN_MODEL
    finally:
        _close(context)


def _planned_variable(context: Context, environment: str, model_name: str, variable: str) -> str | None:
    env = context.state_reader.get_environment(environment)
    if env is None:
        return None
    table_infos = [s for s in env.snapshots if s.name.replace('"', "").endswith(model_name)]
    if not table_infos:
        return None
    snapshot = context.state_reader.get_snapshots([table_infos[0].snapshot_id])[table_infos[0].snapshot_id]
    executable = snapshot.model.python_env.get("__sqlmesh__vars__")
    if executable is None:
        return None
    return ast.literal_eval(executable.payload).get(variable)


@dataclass(frozen=True)
class BuildResult:
    as_of: date
    mart_rows: dict[str, int]


MARTS = (
    "marts.mart_customer_360",
    "marts.mart_customer_monthly_activity",
    "marts.mart_clv",
    "marts.mart_churn_risk",
    "marts.mart_customer_segments",
    "marts.mart_retention_cohorts",
    "marts.mart_category_ltv",
    "marts.mart_churn_support_analysis",
    "marts.mart_ticket_analytics",
    "marts.mart_top_root_causes",
    "marts.mart_app_version_impact",
    "marts.mart_revenue_at_risk_by_segment",
    "scoring.clv_predictions",
    "metrics.metric_customer_ltv",
    "metrics.metric_mom_spend_change",
    "metrics.metric_avg_transaction_value",
)


def build_prod(
    paths: DataPaths,
    as_of: date,
    project: Path = PROJECT_ROOT,
    gateway: str | None = None,
    churn_model: str | None = None,
) -> BuildResult:
    """Apply the prod plan (first time) and run every interval up to `as_of`. Audits block.
    The churn model stays the live one unless `churn_model` names another version."""
    plan_environment(paths, "prod", as_of, churn_model, project, gateway)
    with sqlmesh_context(paths, gateway, project, churn_model) as context:
        context.run(execution_time=execution_time(as_of))
    publication.publish(paths)
    return BuildResult(as_of, count_rows(paths, MARTS))


def plan_environment(
    paths: DataPaths,
    environment: str,
    as_of: date,
    churn_model: str | None = None,
    project: Path = PROJECT_ROOT,
    gateway: str | None = None,
    console: Any = None,
) -> None:
    """Plan `environment` as of `as_of`, with `churn_model` live if given (`console`: a SQLMesh
    console to report to). When that switches the
    live churn model, the as-of day's churn scores are then restated so the model just planned
    scores it: the scores are forward-only, so the switch itself changes no day already scored."""
    switching = churn_model is not None and churn_model != live_churn_model(paths, gateway, project, environment)
    with sqlmesh_context(paths, gateway, project, churn_model, console=console) as context:
        context.plan(environment, execution_time=execution_time(as_of), no_prompts=True, auto_apply=True)
        if switching:
            context.plan(
                environment,
                restate_models=[CHURN_SCORES_MODEL],
                start=as_of,
                end=as_of,
                execution_time=execution_time(as_of),
                no_prompts=True,
                auto_apply=True,
            )


def finish_interrupted_plan(context: Context, environment: str, at: datetime) -> bool:
    """Plan `environment` again (execution time `at`) if a plan recorded it and died before
    finalizing it; True if so.

    Only a plan in progress leaves an environment unfinalized, and churnmesh plans under its writer
    lock: one found unfinalized by a lock holder is a dead plan's. `run()` would wait for it (six
    hours by default, the lock held) and then fail. SQLMesh counts an unfinalized environment as a
    change, so the new plan does what the dead one left undone and finalizes it."""
    env = context.state_reader.get_environment(environment)
    if env is None or env.finalized_ts:
        return False
    context.plan(environment, execution_time=at, no_prompts=True, auto_apply=True)
    return True


def count_rows(paths: DataPaths, tables: tuple[str, ...]) -> dict[str, int]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {quoted_name(t)}").fetchone()[0] for t in tables}
    finally:
        con.close()


PROJECT_PARTS = (
    "models",
    "audits",
    "macros",
    "signals",
    "seeds",
    "config.py",
    "project.yaml",
    "external_models.yaml",
)


def copy_project(target: Path) -> Path:
    """A copy of the SQLMesh project (models, audits, macros, seeds, config) to change freely."""
    for part in PROJECT_PARTS:
        source = PROJECT_ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / part)
    return target
