"""Training the churn model on the warehouse, with a time split and the model card's figures.

For `churnmesh train --as-of A`, horizon H and churn_inactive_days C (a churn is known C days after
the last activity), each label needs L = H + C days of outcome. The windows are, oldest first:
- training: features on several dates T (30 days apart) with T + L on or before the calibration date;
- calibration (also used to choose the estimator): features on A - 2L, outcomes up to A - L;
- test: features on A - L, outcomes up to A.
No label window reaches the features of the next stage, and every figure on the card is measured
on the test window, which nothing was fitted on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from churnmesh.scoring.churn import (
    FEATURES,
    LEAKAGE_AUC_LIMIT,
    TRAINING_LOG,
    ChurnModel,
    LabelWindow,
    calibrate,
    calibration_method,
    check_leakage,
    check_windows,
    feature_matrix,
    retained_reference,
    select_estimator,
)
from churnmesh.scoring.metrics import score_figures

TRAINING_DATES = 6
TRAINING_STEP_DAYS = 30
# A training date needs this much history behind it for its windows to mean anything.
MIN_HISTORY_DAYS = 90

Snapshots = Callable[[date], pd.DataFrame]


@dataclass(frozen=True)
class TrainingWindows:
    as_of: date
    horizon_days: int
    training: list[LabelWindow]
    calibration: LabelWindow
    test: LabelWindow

    def describe(self) -> dict[str, object]:
        return {
            "training_as_of_dates": [w.as_of.isoformat() for w in self.training],
            "calibration_as_of": self.calibration.as_of.isoformat(),
            "test_as_of": self.test.as_of.isoformat(),
            "horizon_days": self.horizon_days,
            "label": "not churned on as_of; last activity by as_of + horizon_days and churned by the "
            "definition on as_of + horizon_days + churn_inactive_days",
            "last_outcome_date": self.as_of.isoformat(),
        }


def plan_windows(
    as_of: date, horizon_days: int, recognition_days: int, history_start: date, dates: int = TRAINING_DATES
) -> TrainingWindows:
    span = horizon_days + recognition_days
    test = LabelWindow(as_of - timedelta(days=span), horizon_days, recognition_days)
    calibration = LabelWindow(test.as_of - timedelta(days=span), horizon_days, recognition_days)
    earliest = history_start + timedelta(days=MIN_HISTORY_DAYS)
    training = [
        LabelWindow(calibration.as_of - timedelta(days=span + TRAINING_STEP_DAYS * k), horizon_days, recognition_days)
        for k in range(dates)
    ]
    training = [w for w in training if w.as_of >= earliest]
    if len(training) < 2:
        needed = history_start + timedelta(days=MIN_HISTORY_DAYS + 3 * span + TRAINING_STEP_DAYS)
        raise ValueError(
            f"not enough history for a {horizon_days}-day horizon as of {as_of}: "
            f"training needs outcomes up to at least {needed} with history from {history_start}"
        )
    check_windows(training, calibration, test)
    return TrainingWindows(as_of, horizon_days, training, calibration, test)


@dataclass
class LabelledSet:
    window: LabelWindow
    snapshot: pd.DataFrame
    matrix: pd.DataFrame
    label: pd.Series


def labelled_set(snapshots: Snapshots, window: LabelWindow) -> LabelledSet:
    """Customers not churned on the window's date, labelled 1 when churned on the day the window's
    churns are known (no activity after the horizon ends, so the last activity is inside it)."""
    now = snapshots(window.as_of)
    population = now[now["lifecycle_stage"] != "churned"].reset_index(drop=True)
    later = snapshots(window.label_end).set_index("customer_id")["lifecycle_stage"]
    unknown = ~population["customer_id"].isin(later.index)
    if unknown.any():
        raise RuntimeError(f"{int(unknown.sum())} customers of {window.as_of} are missing on {window.label_end}")
    label = population["customer_id"].map(later).eq("churned").astype(int)
    return LabelledSet(window, population, feature_matrix(population), label)


def _labelled_logged(snapshots: Snapshots, window: LabelWindow, k: int, n: int) -> LabelledSet:
    TRAINING_LOG.info("[%d/%d] window as of %s: features and labels", k, n, window.as_of)
    return labelled_set(snapshots, window)


def truth_outcomes(truth: pd.DataFrame, labelled: LabelledSet) -> dict[str, pd.Series]:
    """The generator's truth, two ways: the customer had dropped out by the end of the horizon
    (whether before or after the as-of date), and: the customer was still there on the as-of date
    and dropped out within the horizon (only customers still there are counted)."""
    dropout = pd.to_datetime(labelled.snapshot["customer_id"].map(truth["dropout_date"]))
    window = labelled.window
    start, end = pd.Timestamp(window.as_of), pd.Timestamp(window.as_of + timedelta(days=window.horizon_days))
    gone_by_end = (dropout <= end).astype(int)
    still_there = dropout.isna() | (dropout > start)
    return {"dropped_out_by_horizon_end": gone_by_end, "dropped_out_within_horizon": gone_by_end.where(still_there)}


def _concat(sets: list[LabelledSet]) -> tuple[pd.DataFrame, pd.Series]:
    return (
        pd.concat([s.matrix for s in sets], ignore_index=True),
        pd.concat([s.label for s in sets], ignore_index=True),
    )


def _version(as_of: date, parts: list[pd.DataFrame | pd.Series], settings: str) -> str:
    digest = hashlib.sha256(settings.encode())
    for part in parts:
        digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return f"churn-{as_of:%Y%m%d}-{digest.hexdigest()[:8]}"


def _baseline(labelled: LabelledSet) -> np.ndarray:
    """The warehouse's rule-based score (0-100), read as a probability for calibration figures."""
    return labelled.snapshot["risk_score"].astype(float).to_numpy() / 100.0


@dataclass
class TrainingResult:
    model: ChurnModel
    card: dict[str, object]
    test: LabelledSet
    test_probability: np.ndarray


def train(
    snapshots: Snapshots,
    windows: TrainingWindows,
    seed: int = 0,
    truth: pd.DataFrame | None = None,
) -> TrainingResult:
    every = [*windows.training, windows.calibration, windows.test]
    labelled = [_labelled_logged(snapshots, w, k, len(every)) for k, w in enumerate(every, 1)]
    training, calibration, test = labelled[:-2], labelled[-2], labelled[-1]
    train_x, train_y = _concat(training)
    if train_y.nunique() < 2 or calibration.label.nunique() < 2 or test.label.nunique() < 2:
        raise ValueError("every window needs customers who churned and customers who stayed")
    single_auc = check_leakage(train_x, train_y)
    selection = select_estimator(train_x, train_y, calibration.matrix, calibration.label, seed)
    estimator = calibrate(selection.fitted, calibration.matrix, calibration.label)
    settings = f"{seed}|{windows.horizon_days}|{selection.chosen}|{','.join(FEATURES)}"
    version = _version(windows.as_of, [train_x, train_y, calibration.matrix, calibration.label], settings)
    model = ChurnModel(version, windows.as_of, windows.horizon_days, estimator, retained_reference(train_x, train_y))
    probability = model.predict(test.matrix)
    card: dict[str, object] = {
        "version": version,
        "trained_as_of": windows.as_of.isoformat(),
        "data_window": windows.describe(),
        "population": {
            "training_rows": len(train_x),
            "training_churn_rate": float(train_y.mean()),
            "calibration_rows": len(calibration.label),
            "calibration_churn_rate": float(calibration.label.mean()),
            "test_rows": len(test.label),
        },
        "features": list(FEATURES),
        "estimator": {
            "validation_roc_auc": selection.validation_auc,
            "chosen": selection.chosen,
            "calibration": calibration_method(len(calibration.label)),
            "seed": seed,
        },
        "leakage_check": {
            "limit": LEAKAGE_AUC_LIMIT,
            "passed": True,
            "max_single_feature_roc_auc": float(single_auc.iloc[0]),
            "max_feature": str(single_auc.index[0]),
            "single_feature_roc_auc": {k: round(float(v), 4) for k, v in single_auc.items()},
            "windows_disjoint": True,
        },
        "test": score_figures(test.label.to_numpy(), probability),
        "baseline": score_figures(test.label.to_numpy(), _baseline(test)),
    }
    if truth is not None:
        card["truth"] = _truth_figures(truth, test, probability)
    return TrainingResult(model, card, test, probability)


TRUTH_DEFINITIONS = {
    "dropped_out_by_horizon_end": "the generator's dropout date is on or before as-of + horizon",
    "dropped_out_within_horizon": "customers still there on the as-of date; dropout date within the horizon",
}


def _truth_figures(truth: pd.DataFrame, test: LabelledSet, probability: np.ndarray) -> dict[str, object]:
    keep = ("customers", "churn_rate", "roc_auc", "pr_auc", "brier", "expected_calibration_error")
    result: dict[str, object] = {}
    for name, outcome in truth_outcomes(truth, test).items():
        known = outcome.notna().to_numpy()
        model = score_figures(outcome[known].to_numpy(int), probability[known])
        baseline = score_figures(outcome[known].to_numpy(int), _baseline(test)[known])
        result[name] = {
            "definition": TRUTH_DEFINITIONS[name],
            "model": {k: model[k] for k in keep},
            "baseline": {k: baseline[k] for k in keep},
        }
    return result


def read_truth(landing: Path) -> pd.DataFrame | None:
    """The generator's ground truth, when the data came from `churnmesh generate`."""
    path = landing / "_truth" / "customers.csv"
    if not path.exists():
        return None
    return pd.read_csv(path, usecols=["customer_id", "dropout_date"], parse_dates=["dropout_date"]).set_index(
        "customer_id"
    )
