"""The bodies of the SQLMesh scoring models (models/scoring/): read upstream tables, return rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from churnmesh.faults import crash_point
from churnmesh.query import date_literal, quoted, table_name
from churnmesh.scoring import artifacts
from churnmesh.scoring.churn import ChurnModel
from churnmesh.scoring.point_in_time import LIFECYCLE_COLUMNS, Render, snapshot_from
from churnmesh.scoring.scores import SCORE_COLUMNS, Fetch, churn_scores, clv_predictions
from churnmesh.settings import data_paths


def _current_snapshot(fetch: Fetch, features_table: str, lifecycle_table: str) -> pd.DataFrame:
    columns = ", ".join(f"l.{quoted(c)}" for c in LIFECYCLE_COLUMNS)
    return fetch(
        f"SELECT f.*, {columns} FROM {table_name(features_table)} AS f "
        f"JOIN {table_name(lifecycle_table)} AS l ON f.customer_id = l.customer_id ORDER BY f.customer_id"
    )


@dataclass(frozen=True)
class ScoringInputs:
    """Where a scoring run reads from: the tables SQLMesh handed the model, and a renderer of the
    features and lifecycle of any past day from the same models (point_in_time)."""

    fetch: Fetch
    render: Render
    features_table: str
    lifecycle_table: str
    scores_table: str


def score_churn(
    inputs: ScoringInputs,
    first_day: date,
    last_day: date,
    version: str,
    high_threshold: float,
    medium_threshold: float,
) -> pd.DataFrame:
    """Scores of every day from first_day to last_day, each from the features as of that day, so
    a multi-day run scores every day and a restatement recomputes the scores it replaces.

    A day is scored by the live model when that model was trained by then. A day before it keeps
    the version that scored it, recomputed from that version's artifact, or stays unscored: no
    model scores a day it was trained after (it has seen that day's outcomes)."""
    live = None if artifacts.validate_version(version) == artifacts.NO_MODEL else artifacts.load(data_paths(), version)
    stored = _stored_versions(inputs, first_day, last_day)
    current: pd.DataFrame | None = None
    frames = []
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        model = _model_for(day, live, stored.get(day))
        if model is None:
            continue
        if current is None:
            current = _current_snapshot(inputs.fetch, inputs.features_table, inputs.lifecycle_table)
        built = not current.empty and pd.Timestamp(current["as_of_date"].iloc[0]).date() == day
        snapshot = current if built else snapshot_from(inputs.render, inputs.fetch, day)
        crash_point("scoring.churn")
        frames.append(churn_scores(snapshot, model, float(high_threshold), float(medium_threshold)))
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="object") for name in SCORE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _stored_versions(inputs: ScoringInputs, first_day: date, last_day: date) -> dict[date, str]:
    """The model version that scored each day of the range, from the rows about to be replaced."""
    rows = inputs.fetch(
        f"SELECT as_of_date, max(model_version) AS model_version FROM {table_name(inputs.scores_table)} "
        f"WHERE as_of_date BETWEEN {date_literal(first_day)} AND {date_literal(last_day)} GROUP BY 1"
    )
    return {pd.Timestamp(d).date(): str(v) for d, v in zip(rows["as_of_date"], rows["model_version"], strict=True)}


def _model_for(day: date, live: ChurnModel | None, stored_version: str | None) -> ChurnModel | None:
    if live is not None and live.as_of <= day:
        return live
    if stored_version is None or (live is not None and stored_version == live.version):
        return None
    try:
        model = artifacts.load(data_paths(), stored_version)
    except (FileNotFoundError, ValueError):
        return None  # its artifact is gone: the day cannot be recomputed, so it is left unscored
    return model if model.as_of <= day else None


def predict_customer_clv(
    fetch: Fetch,
    orders_table: str,
    features_table: str,
    as_of: date,
    horizon_days: int,
    discount_rate: float,
) -> pd.DataFrame:
    customers = fetch(f"SELECT customer_id, mrr_usd FROM {table_name(features_table)} ORDER BY customer_id")
    crash_point("scoring.clv")
    return clv_predictions(fetch, orders_table, customers, as_of, int(horizon_days), float(discount_rate))
