"""The churn model's building blocks: leakage guard, windows, figures, levels and reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from churnmesh.scoring.churn import (
    NUMERIC_FEATURES,
    ChurnModel,
    LabelWindow,
    LeakageError,
    calibrate,
    check_leakage,
    check_windows,
    feature_matrix,
    retained_reference,
)
from churnmesh.scoring.metrics import expected_calibration_error, lift_by_decile, score_figures
from churnmesh.scoring.scores import SCORE_COLUMNS, churn_scores, risk_level
from churnmesh.scoring.training import plan_windows


def _matrix(rows: int = 2_000, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    label = pd.Series(rng.random(rows) < 0.2).astype(int)
    matrix = pd.DataFrame(
        {
            "recency_days": rng.gamma(2.0, 20.0, rows) + 25 * label,  # informative, not decisive
            "sessions_30d": rng.poisson(5, rows).astype(float),
        }
    )
    return matrix, label


def test_honest_features_pass_the_leakage_guard() -> None:
    matrix, label = _matrix()
    aucs = check_leakage(matrix, label)
    assert 0.5 < aucs["recency_days"] < 0.95


def test_a_planted_leaking_feature_stops_training() -> None:
    matrix, label = _matrix()
    rng = np.random.default_rng(0)
    # e.g. a cancellation date turned into a feature: it nearly is the outcome
    matrix["days_to_cancellation"] = np.where(
        label == 1, rng.integers(1, 30, len(label)), rng.integers(25, 400, len(label))
    )
    with pytest.raises(LeakageError, match="days_to_cancellation"):
        check_leakage(matrix, label)


def test_a_leak_in_either_direction_is_caught() -> None:
    matrix, label = _matrix()
    matrix["minus_outcome"] = -label + np.random.default_rng(1).normal(0, 0.05, len(label))
    with pytest.raises(LeakageError, match="minus_outcome"):
        check_leakage(matrix, label)


def test_overlapping_windows_stop_training() -> None:
    test = LabelWindow(date(2025, 6, 1), 90, 60)
    calibration = LabelWindow(date(2025, 1, 1), 90, 60)
    training_ok = [LabelWindow(date(2024, 8, 1), 90, 60)]
    check_windows(training_ok, calibration, test)
    with pytest.raises(LeakageError, match="overlap the calibration features"):
        check_windows([LabelWindow(date(2024, 10, 1), 90, 60)], calibration, test)
    with pytest.raises(LeakageError, match="overlap the test features"):
        check_windows(training_ok, LabelWindow(date(2025, 2, 1), 90, 60), test)
    with pytest.raises(LeakageError, match="empty"):
        check_windows(training_ok, calibration, LabelWindow(date(2025, 6, 1), 0, 60))


def test_planned_windows_are_disjoint_and_need_enough_history() -> None:
    windows = plan_windows(date(2025, 12, 31), 90, 60, date(2024, 1, 1))
    assert windows.test.label_end == date(2025, 12, 31)
    assert windows.calibration.label_end <= windows.test.as_of
    assert all(w.label_end <= windows.calibration.as_of for w in windows.training)
    assert min(w.as_of for w in windows.training) >= date(2024, 3, 31)
    with pytest.raises(ValueError, match="not enough history"):
        plan_windows(date(2024, 12, 31), 90, 60, date(2024, 1, 1))


def _mann_whitney_auc(outcome: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the probability that a positive outranks a negative (ties count half)."""
    positives, negatives = score[outcome == 1], score[outcome == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(wins / (len(positives) * len(negatives)))


def test_figures_match_an_independent_computation() -> None:
    rng = np.random.default_rng(5)
    probability = rng.random(500)
    outcome = (rng.random(500) < probability**2).astype(int)
    figures = score_figures(outcome, probability)
    assert figures["roc_auc"] == pytest.approx(_mann_whitney_auc(outcome, probability))
    assert figures["brier"] == pytest.approx(float(np.mean((probability - outcome) ** 2)))
    bins = np.minimum((probability * 10).astype(int), 9)
    ece = sum(
        (bins == b).sum() * abs(outcome[bins == b].mean() - probability[bins == b].mean()) for b in np.unique(bins)
    ) / len(outcome)
    assert expected_calibration_error(outcome, probability) == pytest.approx(ece)
    top_decile = np.argsort(-probability)[:50]
    lift = lift_by_decile(outcome, probability)
    assert lift[0]["churn_rate"] == pytest.approx(outcome[top_decile].mean())
    assert lift[-1]["cumulative_capture"] == pytest.approx(1.0)
    assert sum(row["customers"] for row in figures["calibration"]) == 500


def test_risk_levels_use_the_written_thresholds() -> None:
    levels = risk_level(np.array([0.0, 39.99, 40.0, 69.99, 70.0, 100.0]), 70, 40)
    assert list(levels) == ["low", "low", "medium", "medium", "high", "high"]


def _snapshot(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame({name: rng.poisson(3, rows).astype(float) for name in NUMERIC_FEATURES})
    frame["tenure_days"] = 400.0
    frame["days_inactive"] = rng.integers(0, 60, rows).astype(float)
    frame["recency_days"] = frame["days_inactive"] + rng.integers(0, 5, rows)
    frame["revenue_trend"] = frame["session_trend"] = 1.0
    frame["mobile_session_share_90d"] = 0.5
    for flag in ("has_active_subscription", "auto_renew_off", "cancelled_subscription"):
        frame[flag] = False
    frame["loyalty_tier"] = "gold"
    frame["lifecycle_stage"] = "active"
    return frame


def _trained_model(rng: np.random.Generator) -> ChurnModel:
    snapshot = _snapshot(3_000, rng)
    label = pd.Series((rng.random(3_000) < snapshot["days_inactive"] / 70).astype(int))
    matrix = feature_matrix(snapshot)
    estimator = calibrate(LogisticRegression(max_iter=2_000).fit(matrix.to_numpy(), label), matrix, label)
    return ChurnModel("churn-20250101-00000000", date(2025, 1, 1), 90, estimator, retained_reference(matrix, label))


def test_reasons_name_what_drives_the_probability_in_words() -> None:
    rng = np.random.default_rng(11)
    model = _trained_model(rng)
    quiet = _snapshot(1, rng).assign(days_inactive=55.0, recency_days=58.0)
    reasons = model.reasons(quiet, feature_matrix(quiet))
    assert reasons[0][0] == "no purchase or visit in 55 days"
    busy = _snapshot(1, rng).assign(days_inactive=0.0, recency_days=1.0)
    assert all("visit" not in r for r in model.reasons(busy, feature_matrix(busy))[0])


def test_scores_give_the_churned_probability_one_and_the_open_the_models_probability() -> None:
    rng = np.random.default_rng(12)
    model = _trained_model(rng)
    snapshot = _snapshot(4, rng).assign(
        customer_id=["C1", "C2", "C3", "C4"],
        as_of_date=pd.Timestamp("2025-01-01"),
        lifecycle_stage=["active", "churned", "active", "dormant"],
        primary_risk_reason=["none", "churned: no purchase or visit in 90 days", "none", "none"],
        days_inactive=[55.0, 90.0, 0.0, 30.0],
    )
    snapshot["recency_days"] = snapshot["days_inactive"]
    scores = churn_scores(snapshot, model, 70, 40)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert list(scores["customer_id"]) == ["C1", "C2", "C3", "C4"]
    assert set(scores["as_of_date"]) == {date(2025, 1, 1)} and set(scores["model_version"]) == {model.version}
    open_rows = snapshot[snapshot["lifecycle_stage"] != "churned"]
    expected = np.round(model.predict(feature_matrix(open_rows)), 6)
    np.testing.assert_array_equal(scores.loc[[0, 2, 3], "churn_probability"], expected)
    assert scores.loc[1, "churn_probability"] == 1.0 and scores.loc[1, "churn_risk_level"] == "high"
    assert list(scores["churn_risk_level"]) == list(risk_level(100 * scores["churn_probability"].to_numpy(), 70, 40))
    assert (
        scores.loc[1, "churn_reasons"]
        == scores.loc[1, "primary_churn_reason"]
        == snapshot.loc[1, "primary_risk_reason"]
    )
    explained = model.reasons(open_rows, feature_matrix(open_rows))
    for position, found in zip((0, 2, 3), explained, strict=True):
        reasons = found or ["no risk signal"]
        assert scores.loc[position, "churn_reasons"] == "; ".join(reasons)
        assert scores.loc[position, "primary_churn_reason"] == reasons[0]
    assert scores.loc[0, "primary_churn_reason"] == "no purchase or visit in 55 days"


def test_a_snapshot_of_churned_customers_only_needs_no_prediction() -> None:
    rng = np.random.default_rng(13)
    snapshot = _snapshot(2, rng).assign(
        customer_id=["C1", "C2"], as_of_date=date(2025, 1, 1), lifecycle_stage="churned", primary_risk_reason="gone"
    )
    scores = churn_scores(snapshot, _trained_model(rng), 70, 40)
    assert list(scores["churn_probability"]) == [1.0, 1.0] and list(scores["churn_reasons"]) == ["gone", "gone"]


def test_the_risk_level_compares_the_probability_in_percent_with_the_thresholds() -> None:
    """Thresholds set just above the highest and the lowest probability (by half of it, in
    percentage points): nobody reaches high, only the lowest stays low."""
    rng = np.random.default_rng(14)
    model = _trained_model(rng)
    snapshot = _snapshot(6, rng).assign(
        customer_id=[f"C{i}" for i in range(6)],
        as_of_date=date(2025, 1, 1),
        lifecycle_stage="active",
        primary_risk_reason="none",
    )
    probability = model.predict(feature_matrix(snapshot))
    top, bottom = float(probability.max()), float(probability.min())
    high, medium = 100 * top + top / 2, 100 * bottom + bottom / 2
    scores = churn_scores(snapshot, model, high, medium)
    assert list(scores["churn_risk_level"]) == list(risk_level(100 * probability, high, medium))
    assert "high" not in set(scores["churn_risk_level"])
    assert list(scores["churn_risk_level"]).count("low") == 1
