"""Scoring in the warehouse: training, the model card, the scoring models and the marts."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmesh.scoring import artifacts
from churnmesh.scoring.churn import feature_matrix
from churnmesh.scoring.point_in_time import customer_snapshot
from churnmesh.scoring.train_warehouse import train_from_warehouse
from churnmesh.warehouse import build_prod, live_churn_model, sqlmesh_context
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import query

AS_OF = SCORED_AS_OF


@pytest.fixture(scope="module")
def scored(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> Scored:
    return scored_copy(scored_base, tmp_path_factory.mktemp("scoring"))


def test_the_model_card_is_written_with_every_figure(scored: Scored) -> None:
    folder = scored.trained.folder
    card = json.loads((folder / "card.json").read_text())
    for section in ("test", "baseline"):
        for figure in ("roc_auc", "pr_auc", "brier", "expected_calibration_error", "calibration", "lift_by_decile"):
            assert figure in card[section]
    assert card["leakage_check"]["passed"] and card["leakage_check"]["max_single_feature_roc_auc"] < 0.95
    assert set(card["truth"]) == {"dropped_out_by_horizon_end", "dropped_out_within_horizon"}
    assert card["clv_holdout"]["by_frequency"]
    markdown = (folder / "card.md").read_text()
    assert card["version"] in markdown and "Lift by decile" in markdown and "Leakage check" in markdown
    assert card["test"]["roc_auc"] > card["baseline"]["roc_auc"] - 0.05  # a sanity floor, not the target


def _auc(outcome: np.ndarray, score: np.ndarray) -> float:
    positives, negatives = score[outcome == 1], score[outcome == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(wins / (len(positives) * len(negatives)))


def test_the_cards_test_figures_are_recomputed_from_the_warehouse(scored: Scored) -> None:
    """Labels rebuilt from the lifecycle stages, probabilities from the saved artifact."""
    card = scored.trained.card
    window = card["data_window"]
    test_as_of = date.fromisoformat(window["test_as_of"])
    model = artifacts.load(scored.paths, scored.trained.version)
    with sqlmesh_context(scored.paths) as context:
        now = customer_snapshot(context, test_as_of)
        later = customer_snapshot(context, date.fromisoformat(window["last_outcome_date"]))
    population = now[now["lifecycle_stage"] != "churned"].reset_index(drop=True)
    stage_later = later.set_index("customer_id")["lifecycle_stage"]
    outcome = (population["customer_id"].map(stage_later) == "churned").to_numpy(int)
    probability = model.predict(feature_matrix(population))
    assert len(outcome) == card["population"]["test_rows"]
    assert outcome.mean() == pytest.approx(card["test"]["churn_rate"])
    assert _auc(outcome, probability) == pytest.approx(card["test"]["roc_auc"], abs=1e-9)
    assert float(np.mean((probability - outcome) ** 2)) == pytest.approx(card["test"]["brier"], abs=1e-9)
    baseline = population["risk_score"].to_numpy(float)
    assert _auc(outcome, baseline) == pytest.approx(card["baseline"]["roc_auc"], abs=1e-9)


def test_training_is_deterministic(scored: Scored) -> None:
    again = train_from_warehouse(scored.paths, AS_OF)
    assert again.version == scored.trained.version
    assert again.card == scored.trained.card  # every figure, so every test-window probability


def test_past_features_are_rendered_from_the_same_models(scored: Scored) -> None:
    """Rendering the features for the built date reproduces the warehouse's own table."""
    with sqlmesh_context(scored.paths) as context:
        rendered = customer_snapshot(context, AS_OF)
        table = context.fetchdf("SELECT * FROM intermediate.int_customer_features")
    columns = sorted(table.columns)
    left = rendered[columns].sort_values("customer_id").reset_index(drop=True)
    right = table[columns].sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


def test_marts_carry_scores_clv_revenue_at_risk_and_the_version(scored: Scored) -> None:
    version = scored.trained.version
    rows = query(
        scored.paths.warehouse,
        "SELECT count(*), count(churn_probability), count(DISTINCT model_version), max(model_version), "
        # open customers only: a churned one has nothing at risk (tests/test_revenue_at_risk.py)
        "max(abs(revenue_at_risk_usd - round(churn_probability * predicted_clv_usd, 2))) "
        "FILTER (WHERE lifecycle_stage <> 'churned'), "
        "count(*) FILTER (WHERE churn_reasons = '' OR churn_reasons IS NULL) FROM marts.mart_churn_risk",
    )
    total, scored_rows, versions, found, max_error, without_reason = rows[0]
    assert total == scored_rows > 0 and versions == 1 and found == version
    assert max_error == 0 and without_reason == 0
    (customers_360,) = query(
        scored.paths.warehouse, "SELECT count(*) FROM marts.mart_customer_360 WHERE model_version = ?", [version]
    )[0]
    clv_rows, clv_scored = query(
        scored.paths.warehouse, "SELECT count(predicted_clv_usd), count(model_version) FROM marts.mart_clv"
    )[0]
    assert customers_360 == total and clv_rows == clv_scored > 0
    levels = query(scored.paths.warehouse, "SELECT DISTINCT churn_risk_level FROM marts.mart_churn_risk")
    assert {level for (level,) in levels} <= {"high", "medium", "low"}


def test_a_daily_run_keeps_the_live_model_and_the_score_history(scored: Scored) -> None:
    next_day = AS_OF + timedelta(days=1)
    build_prod(scored.paths, next_day)
    assert live_churn_model(scored.paths) == scored.trained.version
    days = query(
        scored.paths.warehouse,
        "SELECT as_of_date, count(*), count(DISTINCT model_version) FROM scoring.churn_scores GROUP BY 1 ORDER BY 1",
    )
    assert [d for d, _, _ in days] == [AS_OF, next_day]
    assert all(versions == 1 for _, _, versions in days)
    scores = pd.DataFrame(
        query(scored.paths.warehouse, "SELECT customer_id, as_of_date, churn_risk_level FROM scoring.churn_scores"),
        columns=["customer_id", "as_of_date", "level"],
    ).pivot(index="customer_id", columns="as_of_date", values="level")
    changed = scores[scores[AS_OF].notna() & scores[next_day].notna() & (scores[AS_OF] != scores[next_day])]
    transitions = query(
        scored.paths.warehouse,
        "SELECT customer_id, previous_level, churn_risk_level FROM marts.mart_churn_risk_transitions "
        "WHERE as_of_date = ? AND previous_as_of_date = ? ORDER BY 1",
        [next_day, AS_OF],
    )
    assert transitions == [(c, row[AS_OF], row[next_day]) for c, row in changed.sort_index().iterrows()]


def test_an_unknown_model_version_is_refused(scored: Scored, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a churn model version"):
        artifacts.validate_version("churn'; DROP TABLE raw.orders; --")
    with pytest.raises(FileNotFoundError, match="churnmesh train"):
        artifacts.load(scored.paths, "churn-20990101-deadbeef")
