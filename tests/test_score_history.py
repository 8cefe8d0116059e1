"""Scores that can be recomputed: every day of a backfill is scored from its own features, a
restatement recomputes scores instead of deleting them, and a promoted change keeps the history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnmesh.orchestration.operations import backfill
from churnmesh.scoring import artifacts
from churnmesh.scoring.point_in_time import FEATURES_MODEL, LIFECYCLE_MODEL, POINT_IN_TIME_INPUTS, customer_snapshot
from churnmesh.scoring.scores import churn_scores
from churnmesh.settings import business_definitions
from churnmesh.warehouse import build_prod, copy_project, sqlmesh_context
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import query

SCORE_COLUMNS = "customer_id, as_of_date, churn_probability, churn_risk_level, churn_reasons, model_version"


def _scores(warehouse: Path, where: str = "TRUE") -> pd.DataFrame:
    rows = query(warehouse, f"SELECT {SCORE_COLUMNS} FROM scoring.churn_scores WHERE {where} ORDER BY 1, 2")
    return pd.DataFrame(rows, columns=[c.strip() for c in SCORE_COLUMNS.split(",")])


def _score_days(warehouse: Path) -> list[tuple]:
    return query(warehouse, "SELECT as_of_date, count(*) FROM scoring.churn_scores GROUP BY 1 ORDER BY 1")


def test_the_scoring_model_depends_on_every_model_its_point_in_time_features_read(
    scored_base: Scored, tmp_path: Path
) -> None:
    with sqlmesh_context(scored_copy(scored_base, tmp_path).paths) as context:
        upstream = set()
        for name in (FEATURES_MODEL, LIFECYCLE_MODEL):
            fqn = context.get_model(name).fqn
            upstream |= {*context.dag.upstream(fqn), fqn}
        models = {n.replace('"', "").split(".", 1)[1] for n in upstream if not context.get_snapshot(n).is_external}
    assert models == set(POINT_IN_TIME_INPUTS)


def test_a_multi_day_backfill_scores_every_day_from_that_days_features(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    first, second = SCORED_AS_OF + timedelta(days=1), SCORED_AS_OF + timedelta(days=2)
    before = _scores(scored.paths.warehouse)
    backfill(scored.paths, first, second)
    days = _score_days(scored.paths.warehouse)
    assert [d for d, _ in days] == [SCORED_AS_OF, first, second]
    model = artifacts.load(scored.paths, scored.trained.version)
    definitions = business_definitions()
    with sqlmesh_context(scored.paths) as context:
        expected = churn_scores(
            customer_snapshot(context, first),
            model,
            float(definitions["risk_high_threshold"]),
            float(definitions["risk_medium_threshold"]),
        )
    stored = _scores(scored.paths.warehouse, f"as_of_date = DATE '{first}'")
    expected = expected[stored.columns].sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
    assert stored["churn_probability"].notna().all()
    # The day before is as it was: a backfill adds days, it does not rescore others.
    pd.testing.assert_frame_equal(_scores(scored.paths.warehouse, f"as_of_date = DATE '{SCORED_AS_OF}'"), before)


def test_a_restatement_recomputes_the_scores_of_its_days(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    before = _scores(scored.paths.warehouse)
    start = SCORED_AS_OF - timedelta(days=3)
    result = backfill(scored.paths, start, SCORED_AS_OF, ["core.fct_orders"], restate=True)
    assert any(e["model"].endswith("scoring.churn_scores") for e in result.evaluations)
    pd.testing.assert_frame_equal(_scores(scored.paths.warehouse), before)  # same data, same scores
    unscored = query(
        scored.paths.warehouse,
        "SELECT count(*) FROM marts.mart_churn_risk WHERE churn_probability IS NULL AND lifecycle_stage <> 'churned'",
    )
    assert unscored == [(0,)]


@pytest.mark.parametrize("threshold", [55])
def test_promoting_a_new_risk_threshold_keeps_the_score_history(
    scored_base: Scored, tmp_path: Path, threshold: int
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    next_day = SCORED_AS_OF + timedelta(days=1)
    backfill(scored.paths, next_day, next_day)
    history = _scores(scored.paths.warehouse)
    transitions = query(scored.paths.warehouse, "SELECT count(*) FROM marts.mart_churn_risk_transitions")
    project = copy_project(tmp_path / "project")
    config = project / "project.yaml"
    settings = yaml.safe_load(config.read_text())
    assert settings["variables"]["risk_high_threshold"] != threshold
    config.write_text(config.read_text().replace("risk_high_threshold: 70", f"risk_high_threshold: {threshold}"))
    build_prod(scored.paths, next_day, project=project)
    pd.testing.assert_frame_equal(_scores(scored.paths.warehouse), history)
    assert query(scored.paths.warehouse, "SELECT count(*) FROM marts.mart_churn_risk_transitions") == transitions
