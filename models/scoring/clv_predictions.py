"""Predicted customer lifetime value over the horizon (BG/NBD + Gamma-Gamma, plus subscriptions)."""

import typing as t
from datetime import datetime, timedelta

import pandas as pd
from sqlglot.expressions import to_column
from sqlmesh import ExecutionContext, model

from churnmesh.scoring.scores import CLV_COLUMNS


@model(
    "scoring.clv_predictions",
    kind="FULL",
    signals=["data_complete"],
    grain=["customer_id"],
    columns=CLV_COLUMNS,
    description=(
        "Predicted CLV per customer as of the as-of date over clv_horizon_days, discounted at "
        "clv_annual_discount_rate (project.yaml). Order revenue: BG/NBD (purchases and survival) and "
        "Gamma-Gamma (spend per purchase), fitted by maximum likelihood on every purchase up to the as-of "
        "date (weeks, purchases grouped by day). Subscription revenue: current monthly recurring revenue over "
        "the horizon. Customers without a purchase yet have no order CLV."
    ),
    column_descriptions={
        "customer_id": "Customer key (C + 7 digits)",
        "as_of_date": "The date the prediction is made on",
        "p_alive": "Probability the customer is still buying (BG/NBD); null before the first purchase",
        "expected_purchases": "Expected purchase days over the horizon; null before the first purchase",
        "expected_spend_per_purchase_usd": "Expected spend per purchase (Gamma-Gamma); null before the first purchase",
        "predicted_order_clv_usd": "Discounted expected order revenue over the horizon",
        "predicted_subscription_clv_usd": "Discounted monthly recurring revenue over the horizon",
        "predicted_clv_usd": "predicted_order_clv_usd + predicted_subscription_clv_usd",
    },
    audits=[
        ("as_of_is_the_runs_day", {}),
        ("unique_values", {"columns": [to_column("customer_id")]}),
        ("not_null", {"columns": [to_column("customer_id"), to_column("predicted_clv_usd")]}),
        ("accepted_range", {"column": to_column("p_alive"), "min_v": 0, "max_v": 1}),
    ],
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **kwargs: t.Any
) -> pd.DataFrame:
    # Imported here so that SQLMesh records the model, not the package's source, in its snapshot.
    from churnmesh import watermark
    from churnmesh.scoring.warehouse_models import predict_customer_clv

    # The as_of_date() macro's rule: the day before the execution time, within the watermark.
    mark = watermark.read_with(context.engine_adapter.fetchall)
    as_of = watermark.clamp(execution_time.date() - timedelta(days=1), mark)

    return predict_customer_clv(
        fetch=context.fetchdf,
        orders_table=context.resolve_table("core.fct_orders"),
        features_table=context.resolve_table("intermediate.int_customer_features"),
        as_of=as_of,
        horizon_days=context.var("clv_horizon_days"),
        discount_rate=context.var("clv_annual_discount_rate"),
    )
