"""`churnmesh train` and `churnmesh model ...`: train churn models, list them, make one live."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from churnmesh import publication
from churnmesh.scoring import artifacts
from churnmesh.scoring.train_warehouse import train_from_warehouse
from churnmesh.settings import DataPaths, data_paths
from churnmesh.warehouse import live_churn_model, plan_environment, sqlmesh_context

CHURN_MARTS = ("marts.mart_churn_risk", "marts.mart_customer_360", "marts.mart_clv")


def cmd_train(args: argparse.Namespace) -> int:
    paths = data_paths()
    trained = train_from_warehouse(paths, args.as_of, args.seed, args.gateway)
    print_card_summary(trained.card)
    print(f"model card: {trained.folder / 'card.md'}")
    print(f"to review it: churnmesh model use {trained.version} --env dev --as-of {args.as_of}")
    return 0


def print_card_summary(card: dict) -> None:
    test, baseline = card["test"], card["baseline"]
    horizon = card["data_window"]["horizon_days"]
    print(f"churn model {card['version']} ({card['estimator']['chosen']}, {horizon}-day horizon)")
    print(
        f"  test window as of {card['data_window']['test_as_of']}: ROC-AUC {test['roc_auc']:.3f} "
        f"(rule baseline {baseline['roc_auc']:.3f}), PR-AUC {test['pr_auc']:.3f}, Brier {test['brier']:.4f}, "
        f"ECE {test['expected_calibration_error']:.4f}"
    )
    for name, truth in card.get("truth", {}).items():
        print(
            f"  against the generator's truth ({name}): ROC-AUC {truth['model']['roc_auc']:.3f} "
            f"(rule baseline {truth['baseline']['roc_auc']:.3f})"
        )
    clv = card.get("clv_holdout")
    if clv:
        print(
            f"  CLV holdout to {clv['holdout_end']}: {clv['predicted_repeat_purchases']:,.0f} repeat purchases "
            f"predicted, {clv['actual_repeat_purchases']:,.0f} made"
        )


def cmd_model(args: argparse.Namespace) -> int:
    paths = data_paths()
    if args.model_command == "list":
        return _list(paths)
    if args.model_command == "live":
        print(live_churn_model(paths))
        return 0
    return _use(paths, args.version, args.env, args.as_of)


def _list(paths: DataPaths) -> int:
    live = live_churn_model(paths)
    for version in artifacts.versions(paths):
        card = artifacts.read_card(paths, version)
        marker = "*" if version == live else " "
        print(
            f"{marker} {version}  ROC-AUC {card['test']['roc_auc']:.3f}  ECE "
            f"{card['test']['expected_calibration_error']:.4f}  trained as of {card['trained_as_of']}"
        )
    return 0


def _use(paths: DataPaths, version: str, environment: str, as_of: date) -> int:
    if version != artifacts.NO_MODEL:
        known = artifacts.versions(paths)
        if version not in known:  # only a version trained into this data folder is planned
            listed = ", ".join(known) or "none"
            raise ValueError(f"no trained churn model {version} in {artifacts.models_dir(paths)} (known: {listed})")
        artifacts.load(paths, version)  # fail before planning if the artifact is unreadable
    plan_environment(paths, environment, as_of, churn_model=version)
    if environment == "prod":
        publication.publish(paths)
    with sqlmesh_context(paths, churn_model=version) as context:
        # table_diff logs every statement it runs; the summary below is what a reviewer needs.
        logging.getLogger("sqlmesh.core.engine_adapter.base").setLevel(logging.ERROR)
        if environment != "prod":
            for diff in context.table_diff(
                "prod", environment, select_models=set(CHURN_MARTS), on=["customer_id"], show=False
            ):
                rows = diff.row_diff()
                print(
                    f"{diff.source} vs {diff.target}: {rows.join_count:,} customers compared, "
                    f"{rows.join_count - rows.full_match_count:,} rows differ"
                )
    target = "prod" if environment == "prod" else f"environment {environment} (promote: --env prod)"
    print(f"churn model {version} is live in {target}")
    return 0
