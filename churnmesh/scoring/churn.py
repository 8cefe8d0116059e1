"""The churn model: features, candidate estimators, the leakage guard, calibration and reasons.

The label follows the written churn definition (project.yaml): a customer churns when they go
inactive and stay so for churn_inactive_days, and the churn is dated at their last activity. A
customer not churned on the as-of date T "churns within H days" when their last activity falls on
or before T + H and they are churned by the definition on T + H + churn_inactive_days, the day it
can first be known. Features describe T only, so the label window never overlaps them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Progress while training, one line per step with a count ("[2/3] candidate ...").
TRAINING_LOG = logging.getLogger("churnmesh.training")

# One customer's snapshot values by column name (a record of the scoring snapshot).
Row = Mapping[str, Any]

NUMERIC_FEATURES = (
    "tenure_days",
    "days_inactive",
    "recency_days",
    "frequency",
    "monetary_usd",
    "purchases_30d",
    "revenue_30d",
    "purchases_90d",
    "revenue_90d",
    "revenue_trend",
    "sessions_30d",
    "sessions_90d",
    "session_trend",
    "mobile_session_share_90d",
    "tickets_90d",
    "low_csat_tickets_30d",
    "open_tickets",
    "avg_resolution_hours_90d",
    "avg_csat_90d",
    "has_active_subscription",
    "auto_renew_off",
    "cancelled_subscription",
    "mrr_usd",
    "points_balance",
)
LOYALTY_TIER_RANK = {"bronze": 0, "silver": 1, "gold": 2, "platinum": 3}
STAGE_FLAGS = ("onboarding", "dormant")
FEATURES = (*NUMERIC_FEATURES, "loyalty_tier_rank", *(f"is_{stage}" for stage in STAGE_FLAGS))

# A single feature that separates the label this well is derived from the outcome.
LEAKAGE_AUC_LIMIT = 0.95
# A reason is reported when removing it lowers the probability by at least this much.
MIN_REASON_EFFECT = 0.01


class LeakageError(RuntimeError):
    """Training data that would let a model see the outcome it predicts."""


def feature_matrix(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Model inputs from a customer snapshot (features + lifecycle); missing values stay NaN."""
    matrix = pd.DataFrame(index=snapshot.index)
    for name in NUMERIC_FEATURES:
        matrix[name] = pd.to_numeric(snapshot[name].astype("object"), errors="coerce").astype(float)
    matrix["loyalty_tier_rank"] = snapshot["loyalty_tier"].map(LOYALTY_TIER_RANK).astype(float)
    for stage in STAGE_FLAGS:
        matrix[f"is_{stage}"] = (snapshot["lifecycle_stage"] == stage).astype(float)
    return matrix


@dataclass(frozen=True)
class LabelWindow:
    """Features as of `as_of`; churn dated in (as_of, as_of + horizon], known on `label_end`."""

    as_of: date
    horizon_days: int
    recognition_days: int

    @property
    def label_end(self) -> date:
        return self.as_of + timedelta(days=self.horizon_days + self.recognition_days)


def check_windows(training: list[LabelWindow], calibration: LabelWindow, test: LabelWindow) -> None:
    """Every label window must end by the next stage's feature date, and labels follow features."""
    for window in (*training, calibration, test):
        if window.horizon_days < 1:
            raise LeakageError(f"label window of {window.as_of} is empty: features and label overlap")
    late = [w.as_of for w in training if w.label_end > calibration.as_of]
    if late:
        raise LeakageError(f"training label windows of {late} overlap the calibration features of {calibration.as_of}")
    if calibration.label_end > test.as_of:
        raise LeakageError(
            f"calibration labels up to {calibration.label_end} overlap the test features of {test.as_of}"
        )


def single_feature_auc(matrix: pd.DataFrame, label: pd.Series) -> pd.Series:
    """ROC-AUC of each feature alone (either direction), on the rows where it is known."""
    result = {}
    for name in matrix.columns:
        known = matrix[name].notna()
        values, target = matrix.loc[known, name], label[known]
        if target.nunique() < 2 or values.nunique() < 2:
            result[name] = 0.5
            continue
        auc = roc_auc_score(target, values)
        result[name] = max(auc, 1.0 - auc)
    return pd.Series(result).sort_values(ascending=False)


def check_leakage(matrix: pd.DataFrame, label: pd.Series, limit: float = LEAKAGE_AUC_LIMIT) -> pd.Series:
    aucs = single_feature_auc(matrix, label)
    leaking = aucs[aucs > limit]
    if not leaking.empty:
        listed = ", ".join(f"{name} (ROC-AUC {auc:.3f})" for name, auc in leaking.items())
        raise LeakageError(f"feature(s) separate the label almost perfectly, so they leak the outcome: {listed}")
    return aucs


def candidate_estimators(seed: int) -> dict[str, ClassifierMixin]:
    return {
        "logistic_regression": make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=5_000),
        ),
        "gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ),
    }


@dataclass
class Selection:
    chosen: str
    validation_auc: dict[str, float]
    fitted: ClassifierMixin = field(repr=False)


def select_estimator(
    train_x: pd.DataFrame, train_y: pd.Series, valid_x: pd.DataFrame, valid_y: pd.Series, seed: int
) -> Selection:
    """Fit every candidate on the training window; keep the best ROC-AUC on the validation window."""
    scores: dict[str, float] = {}
    fitted: dict[str, ClassifierMixin] = {}
    candidates = candidate_estimators(seed)
    for k, (name, estimator) in enumerate(candidates.items(), 1):
        TRAINING_LOG.info("[%d/%d] candidate %s: fitting on %s rows", k, len(candidates), name, f"{len(train_x):,}")
        model = clone(estimator).fit(train_x.to_numpy(), train_y.to_numpy())
        fitted[name] = model
        scores[name] = float(roc_auc_score(valid_y, model.predict_proba(valid_x.to_numpy())[:, 1]))
        TRAINING_LOG.info("[%d/%d] candidate %s: validation ROC-AUC %.3f", k, len(candidates), name, scores[name])
    chosen = max(scores, key=lambda name: (scores[name], name))
    return Selection(chosen, scores, fitted[chosen])


def calibration_method(rows: int) -> str:
    """Isotonic needs data; with little of it a sigmoid is steadier."""
    return "isotonic" if rows >= 2_000 else "sigmoid"


def calibrate(fitted: ClassifierMixin, x: pd.DataFrame, y: pd.Series) -> CalibratedClassifierCV:
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method=calibration_method(len(x)))
    return calibrated.fit(x.to_numpy(), y.to_numpy())


@dataclass
class ChurnModel:
    """A trained, calibrated churn model with what it needs to score and explain."""

    version: str
    as_of: date
    horizon_days: int
    estimator: CalibratedClassifierCV
    # Feature values of a typical retained customer: the baseline each reason is measured against.
    reference: pd.Series

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(matrix[list(FEATURES)].to_numpy())[:, 1]

    def reasons(self, snapshot: pd.DataFrame, matrix: pd.DataFrame, top: int = 3) -> list[list[str]]:
        return explain(self, snapshot, matrix, top)


# ---- reasons in plain words -------------------------------------------------------------------
def _num(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _count(number: object, noun: str) -> str:
    value = int(number)  # type: ignore[call-overload]
    return f"{value} {noun}" if value == 1 else f"{value} {noun}s"


# A phrase says what is adverse about the customer; None when the group's values are not adverse
# in words (the model may still weigh them, but "114 orders" is no reason to call anyone).
def _activity_reason(row: Row) -> str | None:
    days = int(row["days_inactive"])
    return f"no purchase or visit in {days} days" if days >= 7 else None


def _purchase_reason(row: Row) -> str | None:
    recency, trend = _num(row["recency_days"]), _num(row["revenue_trend"])
    if recency is None:
        return f"no purchase since signing up {int(row['tenure_days'])} days ago"
    if recency >= 30:
        return f"no order in {int(recency)} days"
    if trend is not None and trend < 0.8:
        return f"spend down {round(100 * (1 - trend))}% on the prior 60 days"
    return None


def _session_reason(row: Row) -> str | None:
    trend = _num(row["session_trend"])
    if row["sessions_30d"] == 0:
        return "no session in 30 days"
    if trend is not None and trend < 0.8:
        return f"sessions down {round(100 * (1 - trend))}% on the prior 60 days"
    return None


def _support_reason(row: Row) -> str | None:
    if row["low_csat_tickets_30d"] > 0:
        return f"{_count(row['low_csat_tickets_30d'], 'ticket')} with CSAT ≤ 2 in 30 days"
    if row["open_tickets"] > 0:
        return f"{_count(row['open_tickets'], 'open support ticket')}"
    if row["tickets_90d"] == 0:
        return None
    csat = _num(row["avg_csat_90d"])
    suffix = f", mean CSAT {csat:.1f}" if csat is not None else ""
    return f"{_count(row['tickets_90d'], 'support ticket')} in 90 days{suffix}"


def _subscription_reason(row: Row) -> str | None:
    if row["auto_renew_off"]:
        return "auto-renew off"
    if row["cancelled_subscription"]:
        return "subscription cancelled"
    if not row["has_active_subscription"]:
        return "no active subscription"
    return None


def _tenure_reason(row: Row) -> str | None:
    days = int(row["tenure_days"])
    return f"customer for only {days} days" if days < 90 else None


def _loyalty_reason(row: Row) -> str | None:
    return f"loyalty tier {row['loyalty_tier']}" if row["loyalty_tier"] in ("bronze", "silver") else None


def _device_reason(row: Row) -> str | None:
    return "no session in 90 days" if _num(row["mobile_session_share_90d"]) is None else None


# Each reason: the features it covers and how to say it for one customer.
REASON_GROUPS: dict[str, tuple[tuple[str, ...], Callable[[Row], str | None]]] = {
    "activity": (("days_inactive",), _activity_reason),
    "purchases": (
        (
            "recency_days",
            "frequency",
            "monetary_usd",
            "purchases_30d",
            "revenue_30d",
            "purchases_90d",
            "revenue_90d",
            "revenue_trend",
        ),
        _purchase_reason,
    ),
    "sessions": (("sessions_30d", "sessions_90d", "session_trend"), _session_reason),
    "support": (
        ("tickets_90d", "low_csat_tickets_30d", "open_tickets", "avg_resolution_hours_90d", "avg_csat_90d"),
        _support_reason,
    ),
    "subscription": (
        ("has_active_subscription", "auto_renew_off", "cancelled_subscription", "mrr_usd"),
        _subscription_reason,
    ),
    "tenure": (("tenure_days", "is_onboarding", "is_dormant"), _tenure_reason),
    "loyalty": (("points_balance", "loyalty_tier_rank"), _loyalty_reason),
    "device": (("mobile_session_share_90d",), _device_reason),
}


def reason_effects(model: ChurnModel, matrix: pd.DataFrame) -> pd.DataFrame:
    """Per customer and reason: how much the probability falls when that group of features takes the
    values of a typical retained customer (an occlusion attribution; works for any estimator)."""
    base = model.predict(matrix)
    effects = {}
    for group, (columns, _) in REASON_GROUPS.items():
        neutral = matrix.copy()
        for column in columns:
            neutral[column] = model.reference[column]
        effects[group] = base - model.predict(neutral)
    return pd.DataFrame(effects, index=matrix.index)


def explain(model: ChurnModel, snapshot: pd.DataFrame, matrix: pd.DataFrame, top: int = 3) -> list[list[str]]:
    """Each customer's strongest reasons, in words. Equal effects keep REASON_GROUPS' order.
    Works on plain records and arrays: iterating DataFrame rows dominated a day's scoring."""
    effects = reason_effects(model, matrix)
    groups = list(effects.columns)
    values = effects.to_numpy()
    strongest_first = np.argsort(-values, axis=1, kind="stable")
    reasons: list[list[str]] = []
    for row, effect, ranked in zip(snapshot.to_dict("records"), values, strongest_first, strict=True):
        phrases = (REASON_GROUPS[groups[i]][1](row) for i in ranked if effect[i] >= MIN_REASON_EFFECT)
        reasons.append([phrase for phrase in phrases if phrase is not None][:top])
    return reasons


def retained_reference(matrix: pd.DataFrame, label: pd.Series) -> pd.Series:
    """Median feature values of the customers who stayed (all customers if none did)."""
    stayed = matrix[label == 0]
    return (stayed if len(stayed) else matrix).median().fillna(0.0)
