"""The `churnmesh` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnmesh import locking, parameters
from churnmesh.commands import Command, build_parser
from churnmesh.settings import DataPaths, data_paths
from churnmesh.vocabulary import GENERATOR_END, GENERATOR_START

if TYPE_CHECKING:
    from churnmesh.generator import GeneratorConfig
    from churnmesh.ingestion import IngestReport

# The demo dataset: big enough for every model to find something, small enough for a laptop.
DEMO = {"customers": 5_000, "start": GENERATOR_START, "end": GENERATOR_END, "seed": 42, "dirty_rate": 0.01}
GENERATOR_PARAMS_FILE = "_truth/generator.json"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("churnmesh").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    command: Command = args.declared
    try:
        with locking.command_lock(command, getattr(args, "wait_seconds", None)):
            return command.handler()(args)
    except locking.WarehouseBusy as exc:
        print(f"churnmesh {args.command}: error: {exc}", file=sys.stderr)
        return locking.BUSY_EXIT
    except (ValueError, FileNotFoundError) as exc:
        print(f"churnmesh {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"churnmesh {args.command}: {exc}", file=sys.stderr)
        return 1


class RunFailed(Exception):
    """A flow that ended failed or refused; the message is the one line to print."""


# `churnmesh pipeline` and `demo` exit with this when the refresh ran on stale data (its
# marts are published, its alerts sent; the run's state is named Stale).
STALE_EXIT = 3


def daily_refresh_run(**kwargs: Any) -> tuple[dict[str, Any], bool]:
    """The daily refresh flow's result, and whether it ran on stale data."""
    from churnmesh.orchestration.flows import StaleRun, daily_refresh

    try:
        return run_flow(daily_refresh, **kwargs), False
    except StaleRun as stale:
        return stale.run, True


def _said_stale(run: dict[str, Any], stale: bool) -> int:
    if not stale:
        return 0
    from churnmesh.orchestration.flows import stale_message

    print(f"stale: {stale_message(run)}", file=sys.stderr)
    return STALE_EXIT


def run_flow(flow: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a Prefect flow; a failed run becomes RunFailed with its state's message, no traceback."""
    from prefect.exceptions import FailedRun

    from churnmesh.orchestration.refresh import WarehouseRefreshFailed

    try:
        return flow(*args, **kwargs)
    except (FailedRun, WarehouseRefreshFailed) as exc:
        raise RunFailed(str(exc)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from churnmesh.generator import GeneratorConfig

    config = GeneratorConfig(
        customers=args.customers,
        start=args.start,
        end=args.end,
        seed=args.seed,
        dirty_rate=args.dirty_rate,
        file_format=args.format,
    )
    out = args.out or data_paths().landing
    run_generate(config, out)
    return 0


def run_generate(config: GeneratorConfig, out: Path) -> None:
    from churnmesh.generator import generate

    result = generate(config, out)
    (out / GENERATOR_PARAMS_FILE).write_text(json.dumps(_params(config), indent=2) + "\n")
    rows = sum(result.rows.values())
    print(
        f"generated {config.customers:,} customers, {config.start} to {config.end}: "
        f"{rows:,} rows in {result.files:,} files under {out} in {result.seconds:.1f} s"
    )
    if config.dirty_rate:
        print(
            f"  injected faults: {result.row_faults:,} rows, {result.file_faults:,} whole files "
            f"(logged in {out / '_truth'})"
        )


def _params(config: GeneratorConfig) -> dict[str, object]:
    return {
        "customers": config.customers,
        "start": str(config.start),
        "end": str(config.end),
        "seed": config.seed,
        "dirty_rate": config.dirty_rate,
        "format": config.file_format,
    }


def cmd_ingest(args: argparse.Namespace) -> int:
    from churnmesh.ingestion import ingest

    paths = data_paths()
    landing = args.landing or paths.landing
    report = ingest(landing, paths.warehouse, replace=args.replace)
    print_ingest_report(report, paths.warehouse)
    return 1 if report.refused else 0


def print_ingest_report(report: IngestReport, warehouse: Path) -> None:
    print(
        f"files: {report.count('loaded'):,} loaded, {report.count('rejected'):,} rejected whole, "
        f"{report.count('skipped'):,} skipped as re-deliveries, {report.count('unchanged'):,} seen before (unchanged), "
        f"{report.count('refused'):,} refused"
    )
    print(
        f"rows:  {report.total('rows_in'):,} in = {report.total('rows_loaded'):,} loaded "
        f"+ {report.total('rows_rejected'):,} quarantined + {report.total('rows_duplicate'):,} duplicates"
    )
    for outcome in report.refused:
        print(f"refused {outcome.file_path}: {outcome.reason}", file=sys.stderr)
    print(f"warehouse: {warehouse} (raw.*, quarantine.*, raw.ingest_manifest)")


def _use_prefect_home(paths: DataPaths) -> None:
    """Prefect's own database and settings live with the data, not in the user's home."""
    os.environ.setdefault("PREFECT_HOME", str(paths.root / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


@contextmanager
def _prefect(paths: DataPaths) -> Iterator[None]:
    """Prefect for the flows of a command: its home with the data, and without a server configured,
    a temporary local one that ends with the command, even a killed one (Prefect's own would
    outlive it). Import the flows inside the block: Prefect reads its settings when imported."""
    _use_prefect_home(paths)
    from churnmesh.orchestration.server import temporary_server

    with temporary_server(paths):
        yield


def cmd_pipeline(args: argparse.Namespace) -> int:
    paths = parameters.data_dir(str(data_paths().root), "CHURNMESH_DATA_DIR")  # refused before Prefect starts
    if not paths.landing.is_dir():
        raise FileNotFoundError(f"no landing folder at {paths.landing}: there is nothing to ingest")
    with _prefect(paths):
        run, stale = daily_refresh_run(as_of=args.as_of, data_dir=str(paths.root))
    if run["nothing_new"]:
        print(f"nothing new: no new files, and prod is already up to date as of {run['as_of']} ({run['report']})")
        return _said_stale(run, stale)
    print_run(run, paths)
    return _said_stale(run, stale)


def cmd_backfill(args: argparse.Namespace) -> int:
    paths = parameters.data_dir(str(data_paths().root), "CHURNMESH_DATA_DIR")  # refused before Prefect starts
    from churnmesh.orchestration.operations import check_models

    if args.end < args.start:
        raise ValueError(f"--end {args.end} is before --start {args.start}")
    check_models(paths, args.models)  # unknown names are refused here, before Prefect starts
    with _prefect(paths):
        from churnmesh.orchestration.flows import backfill_flow

        result = run_flow(backfill_flow, args.start, args.end, args.models, args.restate, str(paths.root))
    action = "restated" if args.restate else "filled"
    print(f"{action} {args.start} to {args.end}: {len(result['evaluations'])} model batches evaluated")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    paths = parameters.data_dir(str(data_paths().root), "CHURNMESH_DATA_DIR")  # refused before Prefect starts
    with _prefect(paths):
        from churnmesh.orchestration.flows import review_change_flow

        print(run_flow(review_change_flow, args.env, str(paths.root)), end="")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    paths = data_paths()
    _use_prefect_home(paths)
    from churnmesh.orchestration.server import serve

    serve(paths, args.port)
    return 0


def print_run(run: dict, paths: DataPaths) -> None:
    delivery = run["delivery"]
    print(f"as of {run['as_of']}: {run['watermark']}")
    print(f"run summary: {run['report']}")
    if run.get("html_report"):
        print(f"daily report: {run['html_report']}")
    print(
        f"alerts: {len(delivery['delivered'])} sent, {len(delivery['already_sent'])} sent before, "
        f"{len(delivery['undelivered'])} undelivered (ledger and outbox in {paths.root / 'notifications'})"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    paths = data_paths()
    with _prefect(paths):
        return _demo(paths)


def _demo(paths: DataPaths) -> int:
    from churnmesh.generator import GeneratorConfig
    from churnmesh.scoring import model_cli
    from churnmesh.scoring.train_warehouse import train_from_warehouse
    from churnmesh.summary import print_risk_summary, print_warehouse_summary
    from churnmesh.warehouse import build_prod, live_churn_model

    demo = GeneratorConfig(**DEMO)
    params_file = paths.landing / GENERATOR_PARAMS_FILE
    if params_file.exists() and json.loads(params_file.read_text()) == _params(demo):
        print(f"demo data already generated in {paths.landing}")
    else:
        run_generate(demo, paths.landing)
    print(f"\ndaily refresh flow for {demo.end}: ingest, sqlmesh plan (first time) and run, alerts ...")
    run, stale = daily_refresh_run(as_of=demo.end, data_dir=str(paths.root))
    ingestion = run["ingestion"]
    print(
        f"\nthis run's files: {ingestion['files_loaded']:,} loaded, {ingestion['files_rejected']:,} rejected whole; "
        f"rows: {ingestion['rows_in']:,} in = {ingestion['rows_loaded']:,} loaded + "
        f"{ingestion['rows_quarantined']:,} quarantined + {ingestion['rows_duplicate']:,} duplicates"
    )
    print_warehouse_summary(paths.warehouse)
    print(f"\ntraining the churn model on outcomes up to {demo.end} ...")
    trained = train_from_warehouse(paths, demo.end)
    model_cli.print_card_summary(trained.card)
    if live_churn_model(paths) != trained.version:
        print(f"scoring with {trained.version} (sqlmesh plan prod with churn_model_version = {trained.version}) ...")
        build_prod(paths, demo.end, churn_model=trained.version)
        # the day's alerts and summary, scored
        run, stale = daily_refresh_run(as_of=demo.end, data_dir=str(paths.root))
    print_risk_summary(paths.warehouse)
    print(f"\nmodel card: {trained.folder / 'card.md'} (and card.json)")
    print_run(run, paths)
    print(f"Prefect home (flow runs, artifacts): {os.environ['PREFECT_HOME']}")
    print("dashboard: make dashboard (or .venv/bin/churnmesh dashboard), then open http://127.0.0.1:8501")
    return 1 if run["ingestion"]["files_refused"] else _said_stale(run, stale)


def cmd_watermark(args: argparse.Namespace) -> int:
    """What time the warehouse is at: the data watermark, what it is made of, and prod's as-of date."""
    from churnmesh import query, watermark

    paths = data_paths()
    mark, built = watermark.Watermark(None, {}), None
    if paths.warehouse.exists():
        with query.read_only(paths) as con:
            mark = watermark.read(con)
            built = watermark.prod_as_of(con)
    print(mark.describe())
    if mark.day is not None and mark.behind:
        print(f"held back by {', '.join(mark.behind)}: the other sources have delivered up to {mark.frontier}")
    print(f"prod is built as of {built or 'nothing yet'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from churnmesh import status

    found = status.describe(data_paths())
    print("\n".join(found.lines))
    return 0 if found.healthy else 1


def cmd_external_models(args: argparse.Namespace) -> int:
    from churnmesh.ingestion.tables import external_models_yaml

    print(external_models_yaml(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
