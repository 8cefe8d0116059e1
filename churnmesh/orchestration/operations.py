"""Backfills, change review and audits through SQLMesh (the flows and the CLI call these)."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from sqlglot import exp
from sqlmesh import Context

from churnmesh import parameters
from churnmesh.orchestration.refresh import BatchListener, WarehouseRefreshFailed, recorded_context
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import CHURN_SCORES_MODEL, MARTS, execution_time, finish_interrupted_plan, sqlmesh_context

FEATURES_TABLE = "intermediate.int_customer_features"


def known_models(context: Context, names: list[str] | None) -> list[str]:
    """User-supplied model names, checked against the project: nothing unknown reaches SQLMesh."""
    checked = parameters.model_names(names)  # the pattern first: no odd text reaches SQLMesh's parser
    unknown = [name for name in checked if context.get_model(name) is None]
    if unknown:
        project = sorted(model.name for model in context.models.values())
        raise ValueError("; ".join(_unknown_model(name, project) for name in unknown))
    return checked


def _unknown_model(name: str, project: list[str]) -> str:
    """'unknown model 'x'', with the closest name in the project (a typo is the usual cause)."""
    closest = difflib.get_close_matches(name, project, n=1, cutoff=0.6)
    hint = f"did you mean {closest[0]}?" if closest else f"models are {', '.join(project)}"
    return f"unknown model {name!r}: {hint}"


def check_models(paths: DataPaths, names: list[str] | None, project: Path = PROJECT_ROOT) -> list[str]:
    """known_models, on a context of its own (the CLI checks before it starts a flow)."""
    if not names:
        return []
    with sqlmesh_context(paths, project=project) as context:
        return known_models(context, names)


def built_as_of(context: Context) -> date | None:
    try:
        value = context.fetchdf(f"SELECT max(as_of_date) FROM {FEATURES_TABLE}").iloc[0, 0]
    except Exception:  # no prod tables yet
        return None
    return None if pd.isna(value) else pd.Timestamp(value).date()


@dataclass
class BackfillResult:
    start: date
    end: date
    models: list[str]
    restated: bool
    evaluations: list[dict[str, object]] = field(default_factory=list)


def backfill(
    paths: DataPaths,
    start: date,
    end: date,
    models: list[str] | None = None,
    restate: bool = False,
    project: Path = PROJECT_ROOT,
    listener: BatchListener | None = None,
) -> BackfillResult:
    """Without `restate`: the missing intervals from `start` to `end` (of `models`, or all).
    With it: recompute `models` and everything downstream over those dates (late data). Each
    model batch is reported to `listener` as it ends."""
    if end < start:
        raise ValueError(f"the backfill ends ({end}) before it starts ({start})")
    with recorded_context(paths, None, project, listener) as (context, collector, recorder):
        names = known_models(context, models)
        current = built_as_of(context)
        try:
            finish_interrupted_plan(context, "prod", execution_time(current or end))
            if restate:
                if not names:
                    raise ValueError("a restatement names the models to restate (--model)")
                # Downstream full models are rebuilt as of the warehouse's current day, not `end`.
                as_of = max(current or end, end)
                context.plan(
                    "prod",
                    restate_models=names,
                    start=start,
                    end=end,
                    execution_time=execution_time(as_of),
                    no_prompts=True,
                    auto_apply=True,
                )
                status = None
            else:
                status = context.run(
                    "prod",
                    start=start,
                    end=end,
                    execution_time=execution_time(end),
                    select_models=names or None,
                    ignore_cron=True,
                )
        except ValueError:
            raise
        except Exception as exc:
            raise WarehouseRefreshFailed(
                end, collector.failures or [{"error": str(exc)}], recorder.evaluations
            ) from exc
    if (status is not None and status.is_failure) or collector.failures:
        raise WarehouseRefreshFailed(end, collector.failures, recorder.evaluations)
    return BackfillResult(start, end, names, restate, recorder.evaluations)


def model_intervals(paths: DataPaths, model: str, project: Path = PROJECT_ROOT) -> list[tuple[date, date]]:
    """The days of `model` that SQLMesh records as done in prod, as (first, last) ranges."""
    with sqlmesh_context(paths, project=project) as context:
        env = context.state_reader.get_environment("prod")
        wanted = context.get_model(model)
        if env is None or wanted is None:
            return []
        infos = [s for s in env.snapshots if s.name == wanted.fqn]
        snapshot = context.state_reader.get_snapshots([infos[0].snapshot_id])[infos[0].snapshot_id]
        return [
            (pd.Timestamp(lo, unit="ms").date(), pd.Timestamp(hi, unit="ms").date() - timedelta(days=1))
            for lo, hi in snapshot.intervals
        ]


def review_change(paths: DataPaths, environment: str = "dev", project: Path = PROJECT_ROOT) -> str:
    """Plan the project into `environment` (prod untouched) and compare it with prod: the models
    whose version differs from prod's (whether this plan or an earlier one put them there), every
    changed mart's rows, and what a promotion does to prod's churn score history. Returns Markdown;
    promotion is a separate plan of prod."""
    environment = parameters.environment(environment, allow_prod=False)
    with sqlmesh_context(paths, project=project) as context:
        as_of = built_as_of(context)
        if as_of is None:
            raise ValueError("prod is not built yet: run the daily refresh first")
        at = execution_time(as_of)
        context.plan(environment, execution_time=at, no_prompts=True, auto_apply=True)
        changed = _differing_models(context, environment)
        lines = [
            f"# Change review: {environment} against prod (as of {as_of}, execution time {at.isoformat()})",
            "",
            "## Models whose version differs from prod",
        ]
        lines += [f"- {name}" for name in changed] or ["- none: the environment holds what prod holds"]
        lines += ["", "## Churn score history on promotion", _score_history(context, environment, changed)]
        lines += _mart_diffs(context, environment, changed)
    lines += ["", f"Promote with a plan of prod (`sqlmesh plan --execution-time {at.date()}`)."]
    return "\n".join(lines) + "\n"


def _differing_models(context: Context, environment: str) -> list[str]:
    """Models whose snapshot in `environment` is not prod's (compared in state, so a change an
    earlier plan already put into the environment still shows)."""
    prod, env = context.state_reader.get_environment("prod"), context.state_reader.get_environment(environment)
    if prod is None or env is None:
        return []
    in_prod = {s.name: s.snapshot_id for s in prod.snapshots}
    return sorted(_schema_and_name(s.name) for s in env.snapshots if in_prod.get(s.name) != s.snapshot_id)


def _score_history(context: Context, environment: str, changed: list[str]) -> str:
    if CHURN_SCORES_MODEL not in changed:
        return f"- {CHURN_SCORES_MODEL} is unchanged: promotion keeps prod's scores as they are."
    prod_days = _scored_days(context, context.table_name(CHURN_SCORES_MODEL, "prod"))
    env_table, prod_table = (context.table_name(CHURN_SCORES_MODEL, e) for e in (environment, "prod"))
    if context.get_model(CHURN_SCORES_MODEL).forward_only:
        return (
            f"- {CHURN_SCORES_MODEL} changes forward-only: promotion keeps prod's {prod_days} scored day(s) "
            "as they were given; the change scores the days after it."
        )
    env_days = _scored_days(context, env_table) if env_table != prod_table else prod_days
    return (
        f"- WARNING: {CHURN_SCORES_MODEL} is replaced on promotion: prod's {prod_days} scored day(s) "
        f"become the {env_days} of {environment}'s table."
    )


def _scored_days(context: Context, table: str) -> int:
    try:
        return int(context.fetchdf(f"SELECT count(DISTINCT as_of_date) FROM {table}").iloc[0, 0])
    except Exception:  # no table yet
        return 0


def _mart_diffs(context: Context, environment: str, changed: list[str]) -> list[str]:
    lines = [
        "",
        "## Changed marts against prod",
        "| mart | rows compared | rows differing | only in prod | only in " + environment + " |",
        "|---|---|---|---|---|",
    ]
    logging.getLogger("sqlmesh.core.engine_adapter.base").setLevel(logging.ERROR)
    for mart in [m for m in MARTS if m in changed]:
        grain = _grain_columns(context.get_model(mart).grains)
        if not grain:
            lines.append(f"| {mart} | (no grain: not compared) | | | |")
            continue
        (diff,) = context.table_diff("prod", environment, select_models={mart}, on=grain, show=False)
        rows = diff.row_diff()
        lines.append(
            f"| {mart} | {rows.join_count:,} | {rows.join_count - rows.full_match_count:,} "
            f"| {rows.s_only_count:,} | {rows.t_only_count:,} |"
        )
    return lines


def _grain_columns(grains: list[exp.Expression]) -> list[str]:
    """A composite grain `(a, b)` is one tuple expression; table_diff wants its columns."""
    columns: list[str] = []
    for grain in grains:
        columns += [e.sql() for e in grain.expressions] if isinstance(grain, exp.Tuple) else [grain.sql()]
    return columns


def _schema_and_name(fqn: str) -> str:
    """'"warehouse"."marts"."mart_clv"' -> 'marts.mart_clv'."""
    return ".".join(fqn.replace('"', "").split(".")[-2:])


def run_audits(paths: DataPaths, as_of: date, project: Path = PROJECT_ROOT) -> bool:
    """Every audit of every model against the prod tables for `as_of`; True when all pass."""
    with sqlmesh_context(paths, project=project) as context:
        return bool(context.audit(as_of, as_of, execution_time=execution_time(as_of)))
