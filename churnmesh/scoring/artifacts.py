"""Versioned churn model artifacts and their model cards under $CHURNMESH_DATA_DIR/models/churn/.

Each version is a folder written whole (to a temporary name, then renamed), holding model.pkl,
card.json and card.md. A version's name is derived from its training data and settings, so
retraining on the same data gives the same version and the same scores.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

from churnmesh.scoring.churn import ChurnModel
from churnmesh.settings import DataPaths

VERSION_PATTERN = re.compile(r"^churn-[0-9]{8}-[0-9a-f]{8}$")
NO_MODEL = "none"


def models_dir(paths: DataPaths) -> Path:
    return paths.root / "models" / "churn"


def validate_version(version: str) -> str:
    if version != NO_MODEL and not VERSION_PATTERN.fullmatch(version):
        raise ValueError(f"not a churn model version (churn-YYYYMMDD-xxxxxxxx or {NO_MODEL!r}): {version!r}")
    return version


def version_dir(paths: DataPaths, version: str) -> Path:
    return models_dir(paths) / validate_version(version)


def save(paths: DataPaths, model: ChurnModel, card: dict[str, object]) -> Path:
    final = version_dir(paths, model.version)
    staging = final.with_name(f".{model.version}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with (staging / "model.pkl").open("wb") as handle:
        pickle.dump(model, handle)
    (staging / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (staging / "card.md").write_text(card_markdown(card))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def load(paths: DataPaths, version: str) -> ChurnModel:
    path = version_dir(paths, version) / "model.pkl"
    if not path.exists():
        raise FileNotFoundError(f"churn model {version} is not in {models_dir(paths)} (train it: churnmesh train)")
    with path.open("rb") as handle:
        model = pickle.load(handle)
    if not isinstance(model, ChurnModel) or model.version != version:
        raise ValueError(f"{path} does not hold churn model {version}")
    return model


def versions(paths: DataPaths) -> list[str]:
    folder = models_dir(paths)
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and VERSION_PATTERN.fullmatch(p.name))


def read_card(paths: DataPaths, version: str) -> dict[str, object]:
    return json.loads((version_dir(paths, version) / "card.json").read_text())


# ---- the Markdown card ------------------------------------------------------------------------
def _figures_row(name: str, figures: dict) -> str:
    return (
        f"| {name} | {figures['roc_auc']:.3f} | {figures['pr_auc']:.3f} | {figures['brier']:.4f} "
        f"| {figures['expected_calibration_error']:.4f} | {figures['churn_rate']:.3f} | {figures['customers']:,} |"
    )


def card_markdown(card: dict) -> str:
    window, estimator, leakage = card["data_window"], card["estimator"], card["leakage_check"]
    lines = [
        f"# Churn model {card['version']}",
        "",
        f"Predicts churn (project.yaml's definition) within {window['horizon_days']} days of the as-of date.",
        "",
        "## Data window",
        f"- training features as of: {', '.join(window['training_as_of_dates'])}",
        f"- calibration and estimator choice: features as of {window['calibration_as_of']}",
        f"- test: features as of {window['test_as_of']}, outcomes up to {window['last_outcome_date']}",
        f"- rows: {card['population']['training_rows']:,} training, {card['population']['calibration_rows']:,} "
        f"calibration, {card['population']['test_rows']:,} test",
        "",
        "## Estimator",
        f"- chosen: {estimator['chosen']} (validation ROC-AUC "
        + ", ".join(f"{k} {v:.3f}" for k, v in estimator["validation_roc_auc"].items())
        + f"), calibrated with {estimator['calibration']} regression, seed {estimator['seed']}",
        f"- features: {', '.join(card['features'])}",
        "",
        "## Test window (observed churn by the written definition)",
        "| score | ROC-AUC | PR-AUC | Brier | ECE | churn rate | customers |",
        "|---|---|---|---|---|---|---|",
        _figures_row("model", card["test"]),
        _figures_row("rule-based baseline (score / 100)", card["baseline"]),
    ]
    for outcome in card.get("truth", {}).values():
        lines += [
            "",
            "## Against the generator's truth",
            f"Outcome: {outcome['definition']}.",
            "",
            "| score | ROC-AUC | PR-AUC | Brier | ECE | churn rate | customers |",
            "|---|---|---|---|---|---|---|",
            _figures_row("model", outcome["model"]),
            _figures_row("rule-based baseline", outcome["baseline"]),
        ]
    lines += [
        "",
        "## Calibration (test window)",
        "| predicted | customers | mean predicted | observed |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['bin']} | {r['customers']:,} | {r['mean_predicted']:.3f} | {r['observed_rate']:.3f} |"
        for r in card["test"]["calibration"]
    ]
    lines += [
        "",
        "## Lift by decile (test window)",
        "| decile | churn rate | lift | cumulative capture |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['decile']} | {r['churn_rate']:.3f} | {r['lift']:.2f} | {r['cumulative_capture']:.3f} |"
        for r in card["test"]["lift_by_decile"]
    ]
    lines += [
        "",
        "## Leakage check",
        f"- no single feature may reach ROC-AUC {leakage['limit']} alone: highest is {leakage['max_feature']} "
        f"at {leakage['max_single_feature_roc_auc']:.3f}",
        "- label windows end on or before the next stage's feature date (checked before training)",
    ]
    if "clv_holdout" in card:
        lines += _clv_lines(card["clv_holdout"])
    return "\n".join(lines) + "\n"


def _clv_lines(check: dict) -> list[str]:
    lines = [
        "",
        "## CLV calibration/holdout check (BG/NBD)",
        f"Fitted on purchases up to {check['calibration_end']}; holdout to {check['holdout_end']}; "
        f"{check['customers']:,} customers. Repeat purchases in the holdout: predicted "
        f"{check['predicted_repeat_purchases']:,.0f}, actual {check['actual_repeat_purchases']:,.0f}.",
        "",
        "| repeat purchases in calibration | customers | predicted per customer | actual per customer |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['calibration_repeat_purchases']} | {r['customers']:,} | {r['predicted_per_customer']:.3f} "
        f"| {r['actual_per_customer']:.3f} |"
        for r in check["by_frequency"]
    ]
    return lines
