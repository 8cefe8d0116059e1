"""Customer features as they were on a past date, from the warehouse's own model definitions.

Training needs the features of many past as-of dates, while the warehouse keeps only the current
ones. Rather than restating the feature logic in Python, the SQLMesh models are rendered for the
past execution time with every full (as-of dependent) model expanded into its query; incremental
tables (daily metrics) are read as they are and filtered by date inside the models. The result is
what the warehouse would have shown on that date (rows that arrived late are included).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
from sqlmesh import Context

from churnmesh.warehouse import execution_time

FEATURES_MODEL = "intermediate.int_customer_features"
LIFECYCLE_MODEL = "intermediate.int_customer_lifecycle"
LIFECYCLE_COLUMNS = ("lifecycle_stage", "risk_score", "risk_level", "primary_risk_reason")
# Every model the features and lifecycle of a past day are rendered from. The churn scoring model
# depends on all of them, so that SQLMesh hands it their tables (a test keeps this list equal to
# the project's graph).
POINT_IN_TIME_INPUTS = (
    "core.dim_customers",
    "core.dim_plans",
    "core.dim_products",
    "core.fct_loyalty",
    "core.fct_orders",
    "core.fct_sessions",
    "core.fct_subscriptions",
    "core.fct_support_tickets",
    "intermediate.int_customer_daily_metrics",
    "intermediate.int_customer_features",
    "intermediate.int_customer_lifecycle",
    "staging.seed_plans",
    "staging.seed_products",
    "staging.seed_root_causes",
    "staging.stg_customers",
    "staging.stg_device_session_versions",
    "staging.stg_loyalty_balances",
    "staging.stg_order_versions",
    "staging.stg_subscriptions",
    "staging.stg_support_tickets",
)
Render = Callable[[str, date], str]  # (model name, as-of date) -> the SQL of that model on that day


def _as_of_models(context: Context) -> list[str]:
    return [model.name for model in context.models.values() if model.kind.is_full]


def render_as_of(context: Context, model: str, as_of: date) -> str:
    """The model's query as it would run for `as_of`, with as-of dependent upstream models inlined."""
    query = context.render(model, execution_time=execution_time(as_of), expand=_as_of_models(context))
    return query.sql(dialect="duckdb")


def customer_snapshot(context: Context, as_of: date) -> pd.DataFrame:
    """Features, lifecycle stage and rule-based risk of every customer signed up by `as_of`."""
    return snapshot_from(lambda model, day: render_as_of(context, model, day), context.fetchdf, as_of)


def execution_renderer(context: Any) -> Render:
    """render_as_of inside a running SQLMesh model: from the tables SQLMesh gave the model's
    `context` (a sqlmesh ExecutionContext), so a dev environment or an unpromoted plan reads its
    own versions, never prod's views."""
    snapshots = context.snapshots
    expand = [name for name, s in snapshots.items() if s.is_model and s.model.kind.is_full]

    def render(model: str, as_of: date) -> str:
        snapshot = next(s for name, s in snapshots.items() if name.replace('"', "").endswith(f".{model}"))
        query = snapshot.model.render_query_or_raise(
            execution_time=execution_time(as_of),
            snapshots=snapshots,
            expand=expand,
            deployability_index=context.deployability_index,
            engine_adapter=context.engine_adapter,
        )
        return query.sql(dialect="duckdb")

    return render


def snapshot_from(render: Render, fetch: Callable[[str], pd.DataFrame], as_of: date) -> pd.DataFrame:
    """customer_snapshot from any renderer and query function."""
    features = fetch(render(FEATURES_MODEL, as_of))
    lifecycle = fetch(render(LIFECYCLE_MODEL, as_of))
    snapshot = (
        features.merge(lifecycle[["customer_id", *LIFECYCLE_COLUMNS]], on="customer_id", how="inner")
        .sort_values("customer_id")  # query results come in no set order; training must not depend on it
        .reset_index(drop=True)
    )
    stale = pd.to_datetime(snapshot["as_of_date"]).dt.date != as_of
    if stale.any():
        raise RuntimeError(f"features rendered for {as_of} describe another date ({snapshot['as_of_date'].iloc[0]})")
    return snapshot
