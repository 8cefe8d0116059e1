"""Evaluation figures of a probability score against a binary outcome (used by the model card)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

CALIBRATION_BINS = 10


def _bins(probability: np.ndarray) -> np.ndarray:
    """Equal-width bins over [0, 1]; 1.0 falls in the last one."""
    return np.minimum((probability * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)


def calibration_table(outcome: np.ndarray, probability: np.ndarray) -> list[dict[str, float]]:
    frame = pd.DataFrame({"bin": _bins(probability), "p": probability, "y": outcome})
    rows = []
    for index, group in frame.groupby("bin"):
        rows.append(
            {
                "bin": f"{index / CALIBRATION_BINS:.1f}-{(index + 1) / CALIBRATION_BINS:.1f}",
                "customers": len(group),
                "mean_predicted": float(group["p"].mean()),
                "observed_rate": float(group["y"].mean()),
            }
        )
    return rows


def expected_calibration_error(outcome: np.ndarray, probability: np.ndarray) -> float:
    """Customer-weighted mean |observed rate - mean prediction| over the calibration bins."""
    table = calibration_table(outcome, probability)
    total = sum(row["customers"] for row in table)
    return float(sum(row["customers"] * abs(row["observed_rate"] - row["mean_predicted"]) for row in table) / total)


def lift_by_decile(outcome: np.ndarray, score: np.ndarray) -> list[dict[str, float]]:
    """Decile 1 holds the highest scores. Ties are broken by position, so the deciles are equal sized."""
    order = np.argsort(-score, kind="stable")
    deciles = np.array_split(order, 10)
    base_rate = float(outcome.mean())
    positives = float(outcome.sum())
    rows, captured = [], 0.0
    for number, members in enumerate(deciles, start=1):
        rate = float(outcome[members].mean()) if len(members) else 0.0
        captured += float(outcome[members].sum())
        rows.append(
            {
                "decile": number,
                "customers": len(members),
                "churn_rate": rate,
                "lift": rate / base_rate if base_rate else 0.0,
                "cumulative_capture": captured / positives if positives else 0.0,
            }
        )
    return rows


def score_figures(outcome: np.ndarray, score: np.ndarray, probability: np.ndarray | None = None) -> dict[str, object]:
    """Ranking figures from `score`; calibration figures from `probability` (defaults to the score)."""
    probability = score if probability is None else probability
    return {
        "customers": len(outcome),
        "churn_rate": float(outcome.mean()),
        "roc_auc": float(roc_auc_score(outcome, score)),
        "pr_auc": float(average_precision_score(outcome, score)),
        "brier": float(brier_score_loss(outcome, probability)),
        "expected_calibration_error": expected_calibration_error(outcome, probability),
        "calibration": calibration_table(outcome, probability),
        "lift_by_decile": lift_by_decile(outcome, score),
    }
