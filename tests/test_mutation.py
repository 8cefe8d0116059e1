"""`make mutants`: the curated SQL mutations follow the models, the runner tells a killed mutation
from a surviving one, and the report counts what no test reaches as a survivor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mutation import report, retest, sql


@pytest.mark.parametrize("mutation", sql.MUTATIONS, ids=lambda m: m.name)
def test_each_sql_mutation_changes_its_model_in_one_place(mutation: sql.SqlMutation) -> None:
    original = (sql.ROOT / mutation.path).read_text()
    changed = sql.mutated(mutation)
    assert changed != original
    assert len(changed) - len(original) == len(mutation.after) - len(mutation.before)


def test_a_mutation_whose_text_is_gone_is_an_error_not_a_survivor() -> None:
    gone = sql.SqlMutation("gone", sql.LIFECYCLE, "risk_score >= 999", "risk_score > 999")
    with pytest.raises(ValueError, match="0 times, not once"):
        sql.mutated(gone)


def test_the_runner_kills_a_caught_mutation_and_keeps_an_equivalent_one() -> None:
    by_name = {m.name: m for m in sql.MUTATIONS}
    killed = sql.run(by_name["risk-high-strict"])
    assert killed.killed_by is not None
    # Whitespace the SQL parser drops: the model is the same, so every test passes.
    equivalent = sql.SqlMutation(
        "whitespace", sql.LIFECYCLE, "risk_score >= @risk_high_threshold", "risk_score  >=  @risk_high_threshold"
    )
    assert sql.run(equivalent).killed_by is None


def _meta(root: Path, module: str, codes: dict[str, int | None]) -> None:
    path = root / f"{module}.meta"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def test_the_report_counts_unreached_mutants_as_survivors(tmp_path: Path) -> None:
    # mutmut's exit codes: 1 killed, 0 survived, 33 no tests, 36 timeout, None not run yet
    _meta(
        tmp_path, "churnmesh/parameters.py", {"p__mutmut_1": 1, "p__mutmut_2": 0, "p__mutmut_3": 33, "p__mutmut_4": 1}
    )
    _meta(tmp_path, "churnmesh/privacy/export.py", {"e__mutmut_1": 36, "e__mutmut_2": 1, "e__mutmut_3": None})
    found = report.statuses(tmp_path)
    text = report.report(found)
    assert text.startswith("Python mutants: 7, survival rate 33.3%")  # 2 of the 6 judged
    assert "| churnmesh/parameters.py | 4 | 2 | 1 | 1 | 0 | 50.0% |" in text
    assert "| churnmesh/privacy/export.py | 3 | 2 | 0 | 0 | 1 | 0.0% |" in text
    assert "- `p__mutmut_2` (survived)" in text and "- `p__mutmut_3` (no tests)" in text
    assert "e__mutmut_3" not in text


def test_retest_marks_only_the_survivors_of_the_chosen_modules_for_another_run(tmp_path: Path) -> None:
    p, c = "churnmesh.parameters.x__mutmut_", "churnmesh.scoring.clv.x__mutmut_"
    _meta(tmp_path, "churnmesh/parameters.py", {f"{p}1": 0, f"{p}2": 1})
    _meta(tmp_path, "churnmesh/scoring/clv.py", {f"{c}1": 33, f"{c}2": 36})
    assert retest.reset_survivors(tmp_path, "churnmesh.scoring") == 1
    assert report.statuses(tmp_path) == {
        "churnmesh/parameters.py": {f"{p}1": "survived", f"{p}2": "killed"},
        "churnmesh/scoring/clv.py": {f"{c}1": "not checked", f"{c}2": "timeout"},
    }
    assert retest.reset_survivors(tmp_path) == 1
    assert report.statuses(tmp_path)["churnmesh/parameters.py"][f"{p}1"] == "not checked"
