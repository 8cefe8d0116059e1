"""`churnmesh train`: train the churn model on the warehouse and write its versioned card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from churnmesh.scoring import artifacts
from churnmesh.scoring.clv_warehouse import holdout_check, purchases_query
from churnmesh.scoring.point_in_time import FEATURES_MODEL, customer_snapshot
from churnmesh.scoring.training import plan_windows, read_truth, train
from churnmesh.settings import DataPaths, business_definitions
from churnmesh.warehouse import sqlmesh_context


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    folder: Path
    card: dict[str, object]


def built_as_of(fetch_scalar: pd.DataFrame) -> date | None:
    value = fetch_scalar.iloc[0, 0]
    return None if pd.isna(value) else pd.Timestamp(value).date()


def train_from_warehouse(paths: DataPaths, as_of: date, seed: int = 0, gateway: str | None = None) -> TrainedVersion:
    definitions = business_definitions()
    horizon = int(definitions["churn_horizon_days"])
    recognition = int(definitions["churn_inactive_days"])
    windows = plan_windows(as_of, horizon, recognition, date.fromisoformat(str(definitions["history_start"])))
    with sqlmesh_context(paths, gateway) as context:
        built = built_as_of(context.fetchdf(f"SELECT max(as_of_date) FROM {FEATURES_MODEL}"))
        if built is None or built < as_of:
            raise ValueError(f"the warehouse is built up to {built}; build it up to {as_of} before training as of it")
        cache: dict[date, pd.DataFrame] = {}

        def snapshots(day: date) -> pd.DataFrame:
            if day not in cache:
                cache[day] = customer_snapshot(context, day)
            return cache[day]

        result = train(snapshots, windows, seed, read_truth(paths.landing))
        purchases = context.fetchdf(purchases_query("core.fct_orders", as_of))
    result.card["clv_holdout"] = holdout_check(purchases, windows.test.as_of, horizon)
    folder = artifacts.save(paths, result.model, result.card)
    return TrainedVersion(result.model.version, folder, result.card)
