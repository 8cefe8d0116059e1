"""The bodies of the SQLMesh scoring models (models/scoring/): read upstream tables, return rows."""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnmesh.faults import crash_point
from churnmesh.scoring import artifacts
from churnmesh.scoring.point_in_time import LIFECYCLE_COLUMNS
from churnmesh.scoring.scores import SCORE_COLUMNS, Fetch, churn_scores, clv_predictions
from churnmesh.settings import data_paths


def _snapshot(fetch: Fetch, features_table: str, lifecycle_table: str) -> pd.DataFrame:
    columns = ", ".join(f"l.{c}" for c in LIFECYCLE_COLUMNS)
    return fetch(
        f"SELECT f.*, {columns} FROM {features_table} AS f "
        f"JOIN {lifecycle_table} AS l ON f.customer_id = l.customer_id ORDER BY f.customer_id"
    )


def score_churn(
    fetch: Fetch,
    features_table: str,
    lifecycle_table: str,
    first_day: date,
    last_day: date,
    version: str,
    high_threshold: float,
    medium_threshold: float,
) -> pd.DataFrame:
    """Scores of the current as-of date when it falls in [first_day, last_day]; else no rows (the
    features of other days are not kept, and a past day is never scored with today's features)."""
    empty = pd.DataFrame({name: pd.Series(dtype="object") for name in SCORE_COLUMNS})
    if artifacts.validate_version(version) == artifacts.NO_MODEL:
        return empty
    snapshot = _snapshot(fetch, features_table, lifecycle_table)
    if snapshot.empty:
        return empty
    as_of = pd.Timestamp(snapshot["as_of_date"].iloc[0]).date()
    if not first_day <= as_of <= last_day:
        return empty
    model = artifacts.load(data_paths(), version)
    crash_point("scoring.churn")
    return churn_scores(snapshot, model, float(high_threshold), float(medium_threshold))


def predict_customer_clv(
    fetch: Fetch,
    orders_table: str,
    features_table: str,
    as_of: date,
    horizon_days: int,
    discount_rate: float,
) -> pd.DataFrame:
    customers = fetch(f"SELECT customer_id, mrr_usd FROM {features_table} ORDER BY customer_id")
    crash_point("scoring.clv")
    return clv_predictions(fetch, orders_table, customers, as_of, int(horizon_days), float(discount_rate))
