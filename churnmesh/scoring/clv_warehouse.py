"""Predicted CLV for the warehouse's customers, and its calibration/holdout check.

Order revenue is projected with BG/NBD + Gamma-Gamma fitted on purchases up to the as-of date
(weeks, purchases grouped by day). Subscription revenue is contractual, not a purchase process: its
part of the CLV is the current monthly recurring revenue over the horizon, discounted the same way.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from churnmesh.query import date_literal, table_name
from churnmesh.scoring.clv import customer_lifetime_value, fit_bgnbd, fit_gamma_gamma, rfm_summary

TIME_UNIT = "weeks"
DAYS_PER_MONTH = 365.0 / 12
# Holdout buckets by repeat purchases in the calibration period.
FREQUENCY_BUCKETS = (0, 1, 2, 3, 4, 5, 6)

PURCHASES_SQL = """
SELECT customer_id, order_date, amount_usd
FROM {orders}
WHERE order_type = 'purchase' AND order_date <= {end}
ORDER BY customer_id, order_date, amount_usd
"""


def purchases_query(orders_table: str, end: date) -> str:
    """Purchases (not refunds) up to `end`. SQLMesh's fetchdf binds no parameter: the table is
    checked to be a name and the date written as a DATE literal."""
    return PURCHASES_SQL.format(orders=table_name(orders_table), end=date_literal(end))


def _transactions(purchases: pd.DataFrame) -> pd.DataFrame:
    frame = purchases[["customer_id", "order_date", "amount_usd"]].copy()
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["amount_usd"] = frame["amount_usd"].astype(float)
    return frame


def subscription_value(mrr_usd: pd.Series, horizon_days: int, annual_discount_rate: float) -> pd.Series:
    """Monthly recurring revenue over the horizon, each month discounted to today."""
    months = np.arange(1, int(horizon_days / DAYS_PER_MONTH) + 1, dtype=float)
    factor = float(((1 + annual_discount_rate) ** (-months / 12)).sum())
    return mrr_usd.astype(float) * factor


def predict_clv(
    purchases: pd.DataFrame, as_of: date, horizon_days: int, annual_discount_rate: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per customer with a purchase by `as_of`: P(alive), expected purchases and spend per purchase
    over the horizon, and the discounted order CLV; plus the fitted parameters."""
    summary = rfm_summary(_transactions(purchases), "customer_id", "order_date", "amount_usd", pd.Timestamp(as_of))
    bgnbd, spend = fit_bgnbd(summary), fit_gamma_gamma(summary)
    predictions = customer_lifetime_value(bgnbd, spend, summary, horizon_days, annual_discount_rate, TIME_UNIT)
    params = {
        "r": bgnbd.r,
        "alpha": bgnbd.alpha,
        "a": bgnbd.a,
        "b": bgnbd.b,
        "bgnbd_log_likelihood": bgnbd.log_likelihood,
        "p": spend.p,
        "q": spend.q,
        "gamma": spend.gamma,
        "gamma_gamma_log_likelihood": spend.log_likelihood,
    }
    return predictions, params


def holdout_check(purchases: pd.DataFrame, calibration_end: date, holdout_days: int) -> dict[str, object]:
    """Fit on purchases up to `calibration_end`; compare the expected repeat purchases of the next
    `holdout_days` with those made, overall and by calibration-period frequency."""
    transactions = _transactions(purchases)
    summary = rfm_summary(transactions, "customer_id", "order_date", "amount_usd", pd.Timestamp(calibration_end))
    bgnbd = fit_bgnbd(summary)
    frame = summary.frame
    holdout_end = calibration_end + timedelta(days=holdout_days)
    in_holdout = transactions[
        (transactions["order_date"] > pd.Timestamp(calibration_end))
        & (transactions["order_date"] <= pd.Timestamp(holdout_end))
    ]
    actual = in_holdout.groupby("customer_id")["order_date"].nunique().reindex(frame.index).fillna(0)
    predicted = bgnbd.expected_purchases(
        holdout_days / 7.0, frame["frequency"].to_numpy(), frame["recency"].to_numpy(), frame["T"].to_numpy()
    )
    buckets = np.minimum(frame["frequency"].to_numpy(), FREQUENCY_BUCKETS[-1] + 1).astype(int)
    by_bucket = []
    for bucket in sorted(set(buckets)):
        members = buckets == bucket
        label = f"{bucket}+" if bucket > FREQUENCY_BUCKETS[-1] else str(bucket)
        by_bucket.append(
            {
                "calibration_repeat_purchases": label,
                "customers": int(members.sum()),
                "predicted_per_customer": float(predicted[members].mean()),
                "actual_per_customer": float(actual.to_numpy()[members].mean()),
            }
        )
    return {
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat(),
        "customers": len(frame),
        "bgnbd": {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b},
        "predicted_repeat_purchases": float(predicted.sum()),
        "actual_repeat_purchases": float(actual.sum()),
        "by_frequency": by_bucket,
    }
