"""Every `churnmesh` command, declared once: its help, its options, the function that runs it and
whether it writes the warehouse.

A command that writes the warehouse holds the writer lock while it runs and takes `--wait-seconds`
(see locking.py); both follow from `writes_warehouse` here, not from lists kept elsewhere. The
function that runs a command is named as "module:function" and imported only when the command
runs, so `churnmesh --help` and a `churnmesh query` load neither SQLMesh, Prefect, pandera nor
scikit-learn. This module imports nothing heavier than the parameter checks.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from churnmesh import __version__, parameters
from churnmesh.locking import DEFAULT_WAIT_SECONDS, WAIT_ENV
from churnmesh.vocabulary import CAMPAIGNS, GENERATOR_END, GENERATOR_START, RFM_SEGMENTS, TIME_UNIT_DAYS

Handler = Callable[[argparse.Namespace], int]
Options = Callable[[argparse.ArgumentParser], None]


def _no_options(parser: argparse.ArgumentParser) -> None:
    del parser


@dataclass(frozen=True)
class Command:
    """One command the user types: `name` is its words ("model use"), `run` the function that
    runs it, "module:function"."""

    name: str
    help: str
    run: str
    options: Options = _no_options
    writes_warehouse: bool = False
    description: str | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def handler(self) -> Handler:
        module, function = self.run.split(":")
        return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class Group:
    """Words that only lead to commands (`model`, `query`): their help and the `dest` that tells
    the chosen command apart (kept for the handlers that read it)."""

    name: str
    help: str
    dest: str
    commands: tuple[Command, ...] = field(default=())


# ---- option types: each value is checked before anything runs (parameters.py) --------------------
_date = parameters.argument_type(parameters.iso_date, "date")
_port = parameters.argument_type(parameters.port)
_seed = parameters.argument_type(parameters.seed)
_output = parameters.argument_type(parameters.output_file, "out")
OUTPUTS = ("table", "json")
GENERATED_FORMATS = ("csv", "parquet")
TIME_UNITS = tuple(sorted(TIME_UNIT_DAYS))
DASHBOARD_PORT = 8501


def _existing_folder(value: str) -> Path:
    return parameters.folder(value, must_exist=True)


def _review_env(value: str) -> str:
    return parameters.environment(value, allow_prod=False)


def _model_version(text: str) -> str:
    from churnmesh.scoring import artifacts  # loads the model code; only `model use` needs it

    try:
        return artifacts.validate_version(parameters.text(text, None, 64))
    except ValueError as exc:
        raise parameters.InvalidParameter(str(exc)) from None


def _campaign_segment(text: str) -> str:
    from churnmesh.privacy.export import segment

    return segment(text)


def _choice(p: argparse.ArgumentParser, option: str, values: tuple[str, ...], default: str, what: str) -> None:
    p.add_argument(
        option,
        choices=values,
        type=parameters.argument_type(parameters.one_of(values)),
        default=default,
        help=f"{what} (default: {default})",
    )


def wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-seconds",
        type=parameters.argument_type(parameters.wait_seconds),
        default=None,
        help=f"if another churnmesh run holds the warehouse, wait this long for it "
        f"(default: ${WAIT_ENV} or {DEFAULT_WAIT_SECONDS}); 0 stops at once",
    )


# ---- each command's options ----------------------------------------------------------------------
def _generate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--customers", type=parameters.argument_type(parameters.customers), required=True, help="how many customers"
    )
    p.add_argument("--start", type=_date, default=GENERATOR_START, help=f"first day (default: {GENERATOR_START})")
    p.add_argument("--end", type=_date, default=GENERATOR_END, help=f"last day (default: {GENERATOR_END})")
    p.add_argument(
        "--out",
        type=parameters.argument_type(parameters.landing_folder),
        help="landing folder (default: $CHURNMESH_DATA_DIR/landing)",
    )
    p.add_argument("--seed", type=_seed, default=42, help="random seed (default: 42)")
    p.add_argument(
        "--dirty-rate",
        type=parameters.argument_type(parameters.rate),
        default=0.0,
        help="share of rows (and half that of files) with faults",
    )
    _choice(p, "--format", GENERATED_FORMATS, "csv", "file format")


def _ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--landing",
        type=parameters.argument_type(_existing_folder),
        help="landing folder (default: $CHURNMESH_DATA_DIR/landing)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help=(
            "load files whose content changed since they were loaded, in place of the old version "
            "(every file is read and hashed, even one whose size and modification time are unchanged); "
            "a file rejected whole loaded nothing, and its corrected version loads without it"
        ),
    )


def _pipeline(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of",
        type=_date,
        help="the day to bring the warehouse up to (default: the data watermark, the last day every source "
        "has delivered; a later day is refused)",
    )


def _backfill(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_date, required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--end", type=_date, required=True, help="last day (YYYY-MM-DD)")
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        type=parameters.argument_type(parameters.model_name),
        help="a model to fill or restate (repeatable; default: every model)",
    )
    p.add_argument("--restate", action="store_true", help="recompute the models and everything downstream")


def _port_option(default: int | None, what: str) -> Options:
    def options(p: argparse.ArgumentParser) -> None:
        shown = f" (default: {default})" if default is not None else ""
        p.add_argument("--port", type=_port, default=default, help=f"{what}{shown}")

    return options


def _review(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--env",
        default="dev",
        type=parameters.argument_type(_review_env),
        help="environment to plan into (default: dev)",
    )


def _clv_fit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        type=parameters.argument_type(parameters.input_file, "file"),
        help="CSV with a header (or whitespace separated with --sep whitespace)",
    )
    column = parameters.argument_type(parameters.column_name, "column")
    p.add_argument("--customer-col", required=True, type=column, help="the column naming the customer")
    p.add_argument("--date-col", required=True, type=column, help="the column dating the transaction")
    p.add_argument("--amount-col", required=True, type=column, help="the column holding its amount")
    p.add_argument(
        "--calibration-end", required=True, type=_date, help="last day of the calibration period (YYYY-MM-DD)"
    )
    _choice(p, "--time-unit", TIME_UNITS, "weeks", "the unit the models count time in")
    p.add_argument(
        "--date-format",
        type=parameters.argument_type(parameters.date_format),
        help="strftime format of the date column, e.g. %%Y%%m%%d (default: ISO 8601)",
    )
    p.add_argument(
        "--sep",
        default=",",
        type=parameters.argument_type(parameters.separator),
        help="field separator, or 'whitespace'",
    )
    p.add_argument(
        "--no-header", action="store_true", help="the file has no header; name columns by position: 0, 1, 2, ..."
    )
    p.add_argument("--out", type=_output, help="write per-customer predictions (P(alive), purchases, spend, CLV) here")


def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as-of", type=_date, required=True, help="last day whose outcomes training may see")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--gateway",
        type=parameters.argument_type(parameters.gateway),
        help="SQLMesh gateway (default: project.yaml's default)",
    )


def _model_use(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "version", type=parameters.argument_type(_model_version, "version"), help="a trained version, or 'none'"
    )
    p.add_argument(
        "--env",
        default="dev",
        type=parameters.argument_type(parameters.environment),
        help="SQLMesh environment (default: dev)",
    )
    p.add_argument("--as-of", type=_date, required=True, help="the as-of date the warehouse is built to")


def _query_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as-of",
        type=_date,
        help="the as-of date the answer must describe (default: whatever the warehouse describes)",
    )
    p.add_argument(
        "--env",
        default="prod",
        type=parameters.argument_type(parameters.environment, "environment"),
        help="SQLMesh environment (default: prod)",
    )
    _choice(p, "--format", OUTPUTS, "table", "output")


def _query_customer(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "customer_id", type=parameters.argument_type(parameters.customer_id, "customer_id"), help="e.g. C0000042"
    )
    _query_options(p)


def _query_segment(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--by",
        default="rfm_segment",
        type=parameters.argument_type(parameters.segment_dimension, "segment"),
        help=f"the segment column: {', '.join(parameters.SEGMENT_DIMENSIONS)} (default: rfm_segment)",
    )
    _query_options(p)


def _export_campaign(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--segment",
        required=True,
        type=parameters.argument_type(_campaign_segment, "segment"),
        help=f"a campaign ({', '.join(CAMPAIGNS)}) or an RFM segment ({', '.join(RFM_SEGMENTS)})",
    )
    p.add_argument("--out", required=True, type=_output, help="the CSV file to write (replaced whole)")
    p.add_argument(
        "--as-of",
        type=_date,
        help="the export date whose marketing consent counts (default: the date the marts describe)",
    )


MODEL_CLI = "churnmesh.scoring.model_cli"
DECLARED: tuple[Command | Group, ...] = (
    Command(
        "generate",
        "write synthetic daily export files with a known ground truth",
        "churnmesh.cli:cmd_generate",
        _generate,
    ),
    Command(
        "ingest", "load new landing files into the warehouse's raw tables", "churnmesh.cli:cmd_ingest", _ingest, True
    ),
    Command(
        "demo",
        "generate the demo dataset (once) and run the pipeline on it",
        "churnmesh.cli:cmd_demo",
        writes_warehouse=True,
    ),
    Command(
        "pipeline",
        "the daily refresh flow: ingest, sqlmesh run, alerts, run summary (exit 3: it ran on stale data)",
        "churnmesh.cli:cmd_pipeline",
        _pipeline,
        True,
    ),
    Command(
        "backfill",
        "fill missing intervals, or restate models over dates, through SQLMesh",
        "churnmesh.cli:cmd_backfill",
        _backfill,
        True,
    ),
    Command(
        "serve",
        "a Prefect server on 127.0.0.1 and the deployments (Ctrl-C stops both)",
        "churnmesh.cli:cmd_serve",
        _port_option(4200, "the Prefect server's port"),
    ),
    Command(
        "review",
        "plan the project into an environment and diff its changed marts",
        "churnmesh.cli:cmd_review",
        _review,
        True,
    ),
    Command(
        "external-models", "print the raw tables as SQLMesh external models (YAML)", "churnmesh.cli:cmd_external_models"
    ),
    Command(
        "watermark",
        "print the data watermark, each source's newest file and prod's as-of date",
        "churnmesh.cli:cmd_watermark",
    ),
    Command(
        "status",
        "prod's as-of date, the data watermark, the scoring model, the last run and undelivered alerts "
        "(exit 1 if the last run did not complete or an alert is undelivered)",
        "churnmesh.cli:cmd_status",
    ),
    Group(
        "clv",
        "customer lifetime value models",
        "clv_command",
        (
            Command(
                "clv fit",
                "fit BG/NBD and Gamma-Gamma to a transaction file; print parameters as JSON",
                "churnmesh.scoring.clv_cli:cmd_fit",
                _clv_fit,
            ),
        ),
    ),
    Command(
        "train",
        "train a churn model on the warehouse; write its artifact and model card",
        f"{MODEL_CLI}:cmd_train",
        _train,
        True,
    ),
    # The model commands open the SQLMesh state, which DuckDB lets one process open: they hold the lock.
    Group(
        "model",
        "trained churn models: list them, show or change the live one",
        "model_command",
        (
            Command(
                "model list",
                "trained versions with their test figures",
                f"{MODEL_CLI}:cmd_model",
                writes_warehouse=True,
            ),
            Command("model live", "print the version live in prod", f"{MODEL_CLI}:cmd_model", writes_warehouse=True),
            Command(
                "model use",
                "plan an environment with a model version (dev first, then prod)",
                f"{MODEL_CLI}:cmd_model",
                _model_use,
                True,
            ),
        ),
    ),
    Group(
        "query",
        "read a customer or a segment summary from the marts (read-only)",
        "query_command",
        (
            Command(
                "query customer",
                "one customer's row of marts.mart_customer_360",
                "churnmesh.query:cmd_query",
                _query_customer,
            ),
            Command(
                "query segment",
                "customers, revenue at risk, value lost to churn and mean churn probability by segment",
                "churnmesh.query:cmd_query",
                _query_segment,
            ),
        ),
    ),
    Command(
        "mcp",
        "an MCP server (stdio) answering KPI questions from the published marts",
        "churnmesh.mcp_server:cmd_mcp",
        _port_option(None, "serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio"),
    ),
    Command(
        "dashboard",
        "the dashboard (Streamlit) on http://127.0.0.1:PORT; Ctrl-C stops it",
        "churnmesh.dashboard:cmd_dashboard",
        _port_option(DASHBOARD_PORT, "the dashboard's port"),
    ),
    Group(
        "export",
        "exports that carry personal data (read-only on the warehouse)",
        "export_command",
        (
            Command(
                "export campaign",
                "names and emails of a segment's customers who consent to marketing, as CSV",
                "churnmesh.privacy.cli:cmd_export",
                _export_campaign,
                description=(
                    "Customers of a campaign (its eligibility flag in marts.mart_customer_360) or of an RFM segment, "
                    "with marketing consent in their latest profile on or before the export date."
                ),
            ),
        ),
    ),
)


def every_command() -> Iterator[Command]:
    for item in DECLARED:
        yield from item.commands if isinstance(item, Group) else (item,)


def build_parser() -> argparse.ArgumentParser:
    parser = parameters.ArgumentParser(prog="churnmesh", description="The `churnmesh` command line.")
    parser.add_argument("--version", action="version", version=f"churnmesh {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for item in DECLARED:
        if isinstance(item, Group):
            group = sub.add_parser(item.name, help=item.help, description=item.help)
            inner = group.add_subparsers(dest=item.dest, required=True, metavar="COMMAND")
            for command in item.commands:
                _add_command(inner, command)
        else:
            _add_command(sub, item)
    return parser


def _add_command(sub: argparse._SubParsersAction, command: Command) -> None:
    parser = sub.add_parser(command.words[-1], help=command.help, description=command.description or command.help)
    command.options(parser)
    if command.writes_warehouse:
        wait_option(parser)
    parser.set_defaults(declared=command)
