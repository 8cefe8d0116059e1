"""The model card's figures against figures worked by hand: calibration bins, expected calibration
error, lift by decile, and ranking figures recomputed from their definitions (not from sklearn)."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from churnmesh.scoring.metrics import calibration_table, expected_calibration_error, lift_by_decile, score_figures

# Ten customers, one per calibration bin (0.05 in 0.0-0.1, ..., 0.95 in 0.9-1.0).
SCORES = np.array([0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05])
OUTCOMES = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])


def test_each_bin_holds_its_customers_mean_prediction_and_observed_rate() -> None:
    table = calibration_table(OUTCOMES, SCORES)
    assert [row["bin"] for row in table] == [f"0.{i}-{'1.0' if i == 9 else f'0.{i + 1}'}" for i in range(10)]
    assert [row["customers"] for row in table] == [1] * 10
    assert [row["mean_predicted"] for row in table] == pytest.approx(sorted(SCORES))
    assert [row["observed_rate"] for row in table] == list(OUTCOMES[::-1].astype(float))


def test_the_edges_of_the_bins() -> None:
    """0.0 and 0.1 open their bins, 1.0 falls in the last one."""
    table = calibration_table(np.array([0, 1, 1, 0]), np.array([0.0, 0.1, 1.0, 0.95]))
    assert [(row["bin"], row["customers"]) for row in table] == [("0.0-0.1", 1), ("0.1-0.2", 1), ("0.9-1.0", 2)]
    assert table[2]["mean_predicted"] == pytest.approx(0.975) and table[2]["observed_rate"] == 0.5


def test_the_calibration_error_weighs_each_bin_by_its_customers() -> None:
    outcome = np.array([1, 0, 0, 1])
    probability = np.array([0.2, 0.2, 0.2, 0.9])  # bin 0.2-0.3: 3 customers, 1/3 observed; bin 0.9: 1, 1.0
    expected = (3 * abs(1 / 3 - 0.2) + 1 * abs(1.0 - 0.9)) / 4
    assert expected_calibration_error(outcome, probability) == pytest.approx(expected)


def test_lift_by_decile_ranks_the_highest_scores_first() -> None:
    score = np.repeat(SCORES, 2)  # twenty customers, two per decile
    outcome = np.repeat(OUTCOMES, 2)
    rows = lift_by_decile(outcome, score)
    base = outcome.mean()
    assert [row["decile"] for row in rows] == list(range(1, 11))
    assert [row["customers"] for row in rows] == [2] * 10
    assert [row["churn_rate"] for row in rows] == list(OUTCOMES.astype(float))
    assert [row["lift"] for row in rows] == pytest.approx(list(OUTCOMES / base))
    assert [row["cumulative_capture"] for row in rows] == pytest.approx(list(np.cumsum(OUTCOMES) / OUTCOMES.sum()))


def test_unequal_deciles_and_no_churner_at_all() -> None:
    rows = lift_by_decile(np.zeros(12, dtype=int), np.linspace(1, 0, 12))
    assert [row["customers"] for row in rows] == [2, 2] + [1] * 8
    assert {(row["lift"], row["cumulative_capture"]) for row in rows} == {(0.0, 0.0)}
    few = lift_by_decile(np.array([1, 0, 0]), np.array([0.9, 0.5, 0.1]))  # fewer customers than deciles
    assert [row["customers"] for row in few] == [1, 1, 1] + [0] * 7
    assert [row["churn_rate"] for row in few] == [1.0] + [0.0] * 9
    assert few[0]["lift"] == pytest.approx(3.0) and few[-1]["cumulative_capture"] == 1.0


def _roc_auc(outcome: np.ndarray, score: np.ndarray) -> float:
    """The share of churner/stayer pairs the score orders right (a tie counts half)."""
    pairs = list(product(score[outcome == 1], score[outcome == 0]))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def _average_precision(outcome: np.ndarray, score: np.ndarray) -> float:
    """Mean precision at the rank of each churner, highest scores first (no ties here)."""
    ranked = outcome[np.argsort(-score)]
    hits = np.cumsum(ranked)
    return float(np.mean([hits[k] / (k + 1) for k in range(len(ranked)) if ranked[k]]))


def test_score_figures_rank_by_the_score_and_calibrate_the_probability() -> None:
    probability = np.clip(SCORES[::-1] + 0.02, 0, 1)  # a different column: only calibration reads it
    figures = score_figures(OUTCOMES, SCORES, probability)
    assert figures["customers"] == 10 and figures["churn_rate"] == pytest.approx(0.4)
    assert figures["roc_auc"] == pytest.approx(_roc_auc(OUTCOMES, SCORES))
    assert figures["pr_auc"] == pytest.approx(_average_precision(OUTCOMES, SCORES))
    assert figures["brier"] == pytest.approx(float(np.mean((probability - OUTCOMES) ** 2)))
    assert figures["expected_calibration_error"] == pytest.approx(expected_calibration_error(OUTCOMES, probability))
    assert figures["calibration"] == calibration_table(OUTCOMES, probability)
    assert figures["lift_by_decile"] == lift_by_decile(OUTCOMES, SCORES)
    alone = score_figures(OUTCOMES, SCORES)
    assert alone["brier"] == pytest.approx(float(np.mean((SCORES - OUTCOMES) ** 2)))
    assert alone["calibration"] == calibration_table(OUTCOMES, SCORES)


def test_tied_scores_fill_the_deciles_in_the_customers_order() -> None:
    """Three score levels over 100 customers, the first half churned: within a tie the earlier
    customer comes first, so each decile's rate is the one a stable ranking gives."""
    rng = np.random.default_rng(1)
    score = rng.choice([0.1, 0.5, 0.9], size=100)
    outcome = (np.arange(100) < 50).astype(int)
    ranked = sorted(range(100), key=lambda i: -score[i])  # Python's sort is stable
    expected = [float(outcome[ranked[10 * d : 10 * d + 10]].mean()) for d in range(10)]
    assert [row["churn_rate"] for row in lift_by_decile(outcome, score)] == expected
