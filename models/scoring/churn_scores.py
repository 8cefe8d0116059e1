"""Churn probability, risk level and reasons per customer and as-of date (kept for every day scored)."""

import typing as t
from datetime import datetime

import pandas as pd
from sqlglot.expressions import to_column
from sqlmesh import ExecutionContext, model
from sqlmesh.core.model.kind import ModelKindName

from churnmesh.scoring.point_in_time import POINT_IN_TIME_INPUTS
from churnmesh.scoring.scores import SCORE_COLUMNS


@model(
    "scoring.churn_scores",
    kind={
        "name": ModelKindName.INCREMENTAL_BY_TIME_RANGE,
        "time_column": "as_of_date",
        # Every change (a new live model, new thresholds) applies from the next day on: the scores
        # already given stay as they were given, in the same table, and no plan rescores history.
        "forward_only": True,
    },
    signals=["data_complete"],
    # Each day is scored from the features as of that day, rendered from these models' tables.
    depends_on=list(POINT_IN_TIME_INPUTS),
    grain=["customer_id", "as_of_date"],
    columns=SCORE_COLUMNS,
    description=(
        "Churn probability within churn_horizon_days (project.yaml) for every customer, from the trained "
        "churn model named by the churn_model_version variable, with the risk level of the same thresholds "
        "as the rule-based score (probability x 100) and the top reasons in words. Customers already "
        "churned count as lost (probability 1). Every day of a run's interval is scored from the features as "
        "of that day (point in time), so a backfill scores every day and a restatement recomputes its days; a "
        "day is scored by the live model once it was trained by then, else by the version that scored it before. "
        "Forward-only: a change applies from the next day, history stays. With churn_model_version 'none' "
        "no new day is scored."
    ),
    column_descriptions={
        "customer_id": "Customer key (C + 7 digits)",
        "as_of_date": "The date the scores describe",
        "churn_probability": "Calibrated probability of churn within the horizon",
        "churn_risk_level": "high, medium or low (risk_high_threshold / risk_medium_threshold on probability x 100)",
        "churn_reasons": "Up to three reasons, strongest first, separated by '; '",
        "primary_churn_reason": "The strongest reason",
        "model_version": "The trained model version that produced the score",
    },
    audits=[
        ("not_after_the_watermark", {"column": to_column("as_of_date")}),
        ("unique_combination_of_columns", {"columns": [to_column("customer_id"), to_column("as_of_date")]}),
        (
            "not_null",
            {
                "columns": [
                    to_column(c) for c in ("customer_id", "churn_probability", "churn_risk_level", "model_version")
                ]
            },
        ),
        ("accepted_range", {"column": to_column("churn_probability"), "min_v": 0, "max_v": 1}),
    ],
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **kwargs: t.Any
) -> t.Iterator[pd.DataFrame]:
    # Imported here so that SQLMesh records the model, not the package's source, in its snapshot.
    from churnmesh.scoring.point_in_time import execution_renderer
    from churnmesh.scoring.warehouse_models import ScoringInputs, score_churn

    inputs = ScoringInputs(
        fetch=context.fetchdf,
        render=execution_renderer(context),
        features_table=context.resolve_table("intermediate.int_customer_features"),
        lifecycle_table=context.resolve_table("intermediate.int_customer_lifecycle"),
        scores_table=context.resolve_table("scoring.churn_scores"),
    )
    frame = score_churn(
        inputs,
        first_day=start.date(),
        last_day=end.date(),
        version=context.var("churn_model_version"),
        high_threshold=context.var("risk_high_threshold"),
        medium_threshold=context.var("risk_medium_threshold"),
    )
    if frame.empty:
        yield from ()
    else:
        yield frame
