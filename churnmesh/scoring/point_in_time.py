"""Customer features as they were on a past date, from the warehouse's own model definitions.

Training needs the features of many past as-of dates, while the warehouse keeps only the current
ones. Rather than restating the feature logic in Python, the SQLMesh models are rendered for the
past execution time with every full (as-of dependent) model expanded into its query; incremental
tables (daily metrics) are read as they are and filtered by date inside the models. The result is
what the warehouse would have shown on that date (rows that arrived late are included).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlmesh import Context

from churnmesh.warehouse import execution_time

FEATURES_MODEL = "intermediate.int_customer_features"
LIFECYCLE_MODEL = "intermediate.int_customer_lifecycle"
LIFECYCLE_COLUMNS = ("lifecycle_stage", "risk_score", "risk_level", "primary_risk_reason")


def _as_of_models(context: Context) -> list[str]:
    return [model.name for model in context.models.values() if model.kind.is_full]


def render_as_of(context: Context, model: str, as_of: date) -> str:
    """The model's query as it would run for `as_of`, with as-of dependent upstream models inlined."""
    query = context.render(model, execution_time=execution_time(as_of), expand=_as_of_models(context))
    return query.sql(dialect="duckdb")


def customer_snapshot(context: Context, as_of: date) -> pd.DataFrame:
    """Features, lifecycle stage and rule-based risk of every customer signed up by `as_of`."""
    features = context.fetchdf(render_as_of(context, FEATURES_MODEL, as_of))
    lifecycle = context.fetchdf(render_as_of(context, LIFECYCLE_MODEL, as_of))
    snapshot = (
        features.merge(lifecycle[["customer_id", *LIFECYCLE_COLUMNS]], on="customer_id", how="inner")
        .sort_values("customer_id")  # query results come in no set order; training must not depend on it
        .reset_index(drop=True)
    )
    stale = pd.to_datetime(snapshot["as_of_date"]).dt.date != as_of
    if stale.any():
        raise RuntimeError(f"features rendered for {as_of} describe another date ({snapshot['as_of_date'].iloc[0]})")
    return snapshot
