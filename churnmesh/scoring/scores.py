"""What the scoring models of the warehouse compute (models/scoring/*.py call these)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from churnmesh.scoring.churn import ChurnModel, feature_matrix
from churnmesh.scoring.clv_warehouse import predict_clv, purchases_query, subscription_value

Fetch = Callable[[str], pd.DataFrame]

SCORE_COLUMNS = {
    "customer_id": "TEXT",
    "as_of_date": "DATE",
    "churn_probability": "DOUBLE",
    "churn_risk_level": "TEXT",
    "churn_reasons": "TEXT",
    "primary_churn_reason": "TEXT",
    "model_version": "TEXT",
}
CLV_COLUMNS = {
    "customer_id": "TEXT",
    "as_of_date": "DATE",
    "p_alive": "DOUBLE",
    "expected_purchases": "DOUBLE",
    "expected_spend_per_purchase_usd": "DOUBLE",
    "predicted_order_clv_usd": "DOUBLE",
    "predicted_subscription_clv_usd": "DOUBLE",
    "predicted_clv_usd": "DOUBLE",
}
REASON_SEPARATOR = "; "


def risk_level(score: np.ndarray, high_threshold: float, medium_threshold: float) -> np.ndarray:
    """The one mapping from a 0-100 risk (rule score, or probability x 100) to a level."""
    return np.where(score >= high_threshold, "high", np.where(score >= medium_threshold, "medium", "low"))


def churn_scores(
    snapshot: pd.DataFrame, model: ChurnModel, high_threshold: float, medium_threshold: float
) -> pd.DataFrame:
    """Probability, level and reasons for every customer of a snapshot (features + lifecycle).
    Customers already churned by the definition count as lost: probability 1 and the stage's reason."""
    churned = (snapshot["lifecycle_stage"] == "churned").to_numpy()
    probability = np.ones(len(snapshot))
    reasons: list[list[str]] = [[str(r)] for r in snapshot["primary_risk_reason"]]
    if (~churned).any():
        open_rows = snapshot[~churned]
        matrix = feature_matrix(open_rows)
        probability[~churned] = model.predict(matrix)
        for position, found in zip(np.flatnonzero(~churned), model.reasons(open_rows, matrix), strict=True):
            reasons[position] = found or ["no risk signal"]
    return pd.DataFrame(
        {
            "customer_id": snapshot["customer_id"].to_numpy(),
            "as_of_date": pd.to_datetime(snapshot["as_of_date"]).dt.date.to_numpy(),
            "churn_probability": np.round(probability, 6),
            "churn_risk_level": risk_level(100 * probability, high_threshold, medium_threshold),
            "churn_reasons": [REASON_SEPARATOR.join(r) for r in reasons],
            "primary_churn_reason": [r[0] for r in reasons],
            "model_version": model.version,
        }
    )


def clv_predictions(
    fetch: Fetch, orders_table: str, customers: pd.DataFrame, as_of: date, horizon_days: int, discount_rate: float
) -> pd.DataFrame:
    """Predicted CLV over the horizon for every customer of `customers` (customer_id, mrr_usd).
    Customers without a purchase yet have no order CLV (BG/NBD starts at the first purchase)."""
    purchases = fetch(purchases_query(orders_table, as_of))
    frame = customers[["customer_id", "mrr_usd"]].copy()
    if purchases.empty:
        orders = pd.DataFrame(columns=["p_alive", "expected_purchases", "expected_spend_per_purchase", "clv"])
    else:
        orders, _ = predict_clv(purchases, as_of, horizon_days, discount_rate)
    joined = frame.join(orders, on="customer_id")
    order_clv = joined["clv"].astype(float).fillna(0.0)
    subscription = subscription_value(joined["mrr_usd"].fillna(0.0), horizon_days, discount_rate)
    return pd.DataFrame(
        {
            "customer_id": joined["customer_id"],
            "as_of_date": as_of,
            "p_alive": joined["p_alive"].astype(float).round(6),
            "expected_purchases": joined["expected_purchases"].astype(float).round(6),
            "expected_spend_per_purchase_usd": joined["expected_spend_per_purchase"].astype(float).round(4),
            "predicted_order_clv_usd": order_clv.round(2),
            "predicted_subscription_clv_usd": subscription.round(2),
            "predicted_clv_usd": (order_clv + subscription).round(2),
        }
    )
