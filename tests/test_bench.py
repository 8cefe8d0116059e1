"""The benchmark harness runs end to end at its smallest scale (a smoke check: no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from churnmesh.settings import PROJECT_ROOT

PHASES = (
    "generation",
    "ingestion",
    "first_build",
    "training",
    "scoring",
    "new_day_full_history",
    "new_day_90_days",
    "backfill_one_month",
    "queries",
    "publication",
    "dashboard",
    "floor",
)


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("bench")
    out = root / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--scale", "XS", "--work", str(root / "work"), "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads((out / "XS.json").read_text()), (out / "XS.md").read_text()


def test_every_phase_is_measured(smoke_result: tuple[dict, str]) -> None:
    result, _ = smoke_result
    assert set(PHASES) <= set(result["phases"])
    for name in PHASES:
        assert result["phases"][name]["seconds"] > 0, name
    metrics = result["metrics"]
    assert all(value is not None for value in metrics.values()), metrics
    assert metrics["lookup_p50_ms"] <= metrics["lookup_p95_ms"]
    assert metrics["full_pipeline_seconds"] == pytest.approx(
        sum(result["phases"][p]["seconds"] for p in ("ingestion", "first_build", "training", "scoring")), abs=0.01
    )
    assert result["churn_model_version"].startswith("churn-")


def test_every_generated_row_is_accounted_for(smoke_result: tuple[dict, str]) -> None:
    """The harness measures the pipeline on the data it generated: nothing dropped on the way."""
    result, _ = smoke_result
    generated = result["phases"]["generation"]["details"]["rows_by_source"]
    ingestion = result["phases"]["ingestion"]["details"]
    assert ingestion["rows_in"] == ingestion["rows_loaded"]  # clean data: no quarantine, no duplicates
    # The last day is held back for the new-day phase, so raw holds slightly fewer rows.
    for source, rows in result["data"]["raw_rows"].items():
        assert 0.95 * generated[source] <= rows <= generated[source], source
    assert result["metrics"]["customers"] > 0


def test_profile_names_the_slowest_models(smoke_result: tuple[dict, str]) -> None:
    result, report = smoke_result
    for name in ("first_build", "scoring", "new_day_full_history", "new_day_90_days", "backfill"):
        models = result["profile"][name]
        assert models, name
        assert [m["seconds"] for m in models] == sorted((m["seconds"] for m in models), reverse=True)
    assert "| Full pipeline (ingestion + build + training + scoring) |" in report
