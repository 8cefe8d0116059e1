"""Parameters are data, not SQL: hostile values through every CLI option and every flow parameter.

Each value is refused with a one-line message (argparse's, or "churnmesh <command>: error: ..."),
a non-zero exit code and no traceback, and the warehouse does not change. The tables below name
every option and every flow parameter; a test fails when one is added without a row here.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest
from prefect import Flow
from prefect.exceptions import ParameterTypeError

from churnmesh import parameters
from churnmesh.cli import build_parser, main
from churnmesh.orchestration import flows
from churnmesh.settings import PROJECT_ROOT, DataPaths
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import CDNOW_CLV_FIT, INGEST_TABLES, fingerprint

SQL_DROP = "'; DROP TABLE raw.orders; --"
SQL_OR = "C0000001' OR '1'='1"
ENV_DROP = "prod; DROP"
DATE_DELETE = "2025-01-01'); DELETE FROM x; --"
# The tests run in <tmp>/work/here, so this reaches a decoy <tmp>/etc/passwd: a value that slipped
# through would damage the decoy (and fail the test), never a real system file.
TRAVERSAL = "../../etc/passwd"
DECOY = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
LONG = "C" + "0" * 10_000
NUL = "C0000001\x00'; DROP TABLE raw.orders"
FULLWIDTH_DATE = "２０２５-０１-０１"
ARABIC_DIGITS_DATE = "٢٠٢٥-٠١-٠١"
HOSTILE = {
    "sql-drop": SQL_DROP,
    "sql-or": SQL_OR,
    "env-drop": ENV_DROP,
    "date-delete": DATE_DELETE,
    "traversal": TRAVERSAL,
    "long": LONG,
    "nul": NUL,
    "fullwidth-date": FULLWIDTH_DATE,
    "arabic-date": ARABIC_DIGITS_DATE,
}
AS_OF = SCORED_AS_OF.isoformat()
VERSION = "churn-20250731-0123abcd"


@dataclass(frozen=True)
class Case:
    """One option of one command: `argv` with "{}" where the hostile value goes, and what the
    error line must say. `payloads` maps a value's name to a function of the test's folder."""

    command: tuple[str, ...]
    option: str
    argv: tuple[str, ...]
    refusal: str
    payloads: str = "hostile"

    @property
    def id(self) -> str:
        return " ".join((*self.command, self.option))


def _value(argv: tuple[str, ...], option: str) -> tuple[str, ...]:
    """`argv` with the value of `option` replaced by the placeholder."""
    at = argv.index(option)
    return (*argv[: at + 1], "{}", *argv[at + 2 :])


NOT_TRANSACTIONS = r"argument file: |is not a transaction file|column\(s\) not in"
NOT_A_DATE = r"argument --[a-z-]+: not a date|argument --[a-z-]+: .*(NUL|too long)"
CASES = [
    Case(("generate",), "--customers", ("generate", "--customers", "{}"), r"argument --customers: "),
    Case(("generate",), "--start", ("generate", "--customers", "5", "--start", "{}"), NOT_A_DATE),
    Case(("generate",), "--end", ("generate", "--customers", "5", "--end", "{}"), NOT_A_DATE),
    Case(("generate",), "--out", ("generate", "--customers", "5", "--out", "{}"), r"argument --out: ", "folder"),
    Case(("generate",), "--seed", ("generate", "--customers", "5", "--seed", "{}"), r"argument --seed: "),
    Case(("generate",), "--dirty-rate", ("generate", "--customers", "5", "--dirty-rate", "{}"), r"--dirty-rate: "),
    Case(("generate",), "--format", ("generate", "--customers", "5", "--format", "{}"), r"argument --format: "),
    Case(("ingest",), "--landing", ("ingest", "--landing", "{}"), r"argument --landing: "),
    Case(("ingest",), "--replace", ("ingest", "--replace={}"), r"argument --replace: ignored explicit argument"),
    Case(("ingest",), "--wait-seconds", ("ingest", "--wait-seconds", "{}"), r"argument --wait-seconds: "),
    Case(("demo",), "--wait-seconds", ("demo", "--wait-seconds", "{}"), r"argument --wait-seconds: "),
    Case(("pipeline",), "--as-of", ("pipeline", "--as-of", "{}"), NOT_A_DATE),
    Case(("pipeline",), "--wait-seconds", ("pipeline", "--wait-seconds", "{}"), r"argument --wait-seconds: "),
    Case(("backfill",), "--start", ("backfill", "--start", "{}", "--end", AS_OF), NOT_A_DATE),
    Case(("backfill",), "--end", ("backfill", "--start", AS_OF, "--end", "{}"), NOT_A_DATE),
    Case(("backfill",), "--model", ("backfill", "--start", AS_OF, "--end", AS_OF, "--model", "{}"), r"--model: "),
    Case(
        ("backfill",),
        "--restate",
        ("backfill", "--start", AS_OF, "--end", AS_OF, "--restate={}"),
        r"argument --restate: ignored explicit argument",
    ),
    Case(
        ("backfill",),
        "--wait-seconds",
        ("backfill", "--start", AS_OF, "--end", AS_OF, "--wait-seconds", "{}"),
        r"argument --wait-seconds: ",
    ),
    Case(("serve",), "--port", ("serve", "--port", "{}"), r"argument --port: "),
    Case(("dashboard",), "--port", ("dashboard", "--port", "{}"), r"argument --port: "),
    Case(("mcp",), "--port", ("mcp", "--port", "{}"), r"argument --port: "),
    Case(("review",), "--env", ("review", "--env", "{}"), r"argument --env: "),
    Case(("review",), "--wait-seconds", ("review", "--wait-seconds", "{}"), r"argument --wait-seconds: "),
    Case(("clv", "fit"), "file", ("clv", "fit", "{}", *CDNOW_CLV_FIT[3:]), NOT_TRANSACTIONS, "file"),
    *(
        Case(("clv", "fit"), option, _value(CDNOW_CLV_FIT, option), rf"argument {option}: |column\(s\) not in")
        for option in ("--customer-col", "--date-col", "--amount-col")
    ),
    Case(("clv", "fit"), "--calibration-end", _value(CDNOW_CLV_FIT, "--calibration-end"), NOT_A_DATE),
    Case(("clv", "fit"), "--time-unit", (*CDNOW_CLV_FIT, "--time-unit", "{}"), r"argument --time-unit: "),
    Case(("clv", "fit"), "--date-format", _value(CDNOW_CLV_FIT, "--date-format"), r"argument --date-format: "),
    Case(("clv", "fit"), "--sep", _value(CDNOW_CLV_FIT, "--sep"), r"argument --sep: "),
    Case(("clv", "fit"), "--no-header", (*CDNOW_CLV_FIT, "--no-header={}"), r"--no-header: ignored explicit argument"),
    Case(("clv", "fit"), "--out", (*CDNOW_CLV_FIT, "--out", "{}"), r"argument --out: ", "output"),
    Case(("train",), "--as-of", ("train", "--as-of", "{}"), NOT_A_DATE),
    Case(("train",), "--seed", ("train", "--as-of", AS_OF, "--seed", "{}"), r"argument --seed: "),
    Case(("train",), "--gateway", ("train", "--as-of", AS_OF, "--gateway", "{}"), r"argument --gateway: "),
    Case(("train",), "--wait-seconds", ("train", "--as-of", AS_OF, "--wait-seconds", "{}"), r"--wait-seconds: "),
    Case(("model", "list"), "--wait-seconds", ("model", "list", "--wait-seconds", "{}"), r"--wait-seconds: "),
    Case(("model", "live"), "--wait-seconds", ("model", "live", "--wait-seconds", "{}"), r"--wait-seconds: "),
    Case(("model", "use"), "version", ("model", "use", "{}", "--as-of", AS_OF), r"argument version: "),
    Case(("model", "use"), "--env", ("model", "use", VERSION, "--env", "{}", "--as-of", AS_OF), r"argument --env: "),
    Case(("model", "use"), "--as-of", ("model", "use", VERSION, "--as-of", "{}"), NOT_A_DATE),
    Case(
        ("model", "use"),
        "--wait-seconds",
        ("model", "use", VERSION, "--as-of", AS_OF, "--wait-seconds", "{}"),
        r"argument --wait-seconds: ",
    ),
    Case(("query", "customer"), "customer_id", ("query", "customer", "{}"), r"argument customer_id: "),
    Case(("query", "customer"), "--as-of", ("query", "customer", "C0000001", "--as-of", "{}"), NOT_A_DATE),
    Case(("query", "customer"), "--env", ("query", "customer", "C0000001", "--env", "{}"), r"argument --env: "),
    Case(("query", "customer"), "--format", ("query", "customer", "C0000001", "--format", "{}"), r"--format: "),
    Case(("query", "segment"), "--by", ("query", "segment", "--by", "{}"), r"argument --by: "),
    Case(("query", "segment"), "--as-of", ("query", "segment", "--as-of", "{}"), NOT_A_DATE),
    Case(("query", "segment"), "--env", ("query", "segment", "--env", "{}"), r"argument --env: "),
    Case(("query", "segment"), "--format", ("query", "segment", "--format", "{}"), r"argument --format: "),
    Case(
        ("export", "campaign"),
        "--segment",
        ("export", "campaign", "--segment", "{}", "--out", "out.csv"),
        r"argument --segment: ",
    ),
    Case(
        ("export", "campaign"),
        "--out",
        ("export", "campaign", "--segment", "retention", "--out", "{}"),
        r"argument --out: ",
        "output",
    ),
    Case(
        ("export", "campaign"),
        "--as-of",
        ("export", "campaign", "--segment", "retention", "--out", "out.csv", "--as-of", "{}"),
        NOT_A_DATE,
    ),
]


def _payloads(kind: str, folder: Path) -> dict[str, str]:
    """Hostile values for an option. A path option gets each value as a name under something
    that cannot hold it (a plain file, a missing folder): as file names they are harmless text,
    and the command must still refuse the path rather than create it."""
    if kind == "hostile":
        return dict(HOSTILE)
    plain_file = folder / "plain.txt"
    named = {k: v for k, v in HOSTILE.items() if k not in ("traversal", "long", "nul")}
    if kind == "folder":  # generate writes into it: a file, or a folder holding other things
        values = {k: f"{plain_file}/{v}" for k, v in named.items()} | {"system-folder": "../../etc"}
    elif kind == "output":  # replaced whole: never a file of another kind, nor through a link
        values = {k: f"{folder}/missing/{v}.csv" for k, v in named.items()} | {"symlink": str(folder / "link.csv")}
    else:  # an input file: the names do not exist; the decoy passwd does, and is no transaction file
        values = dict(named)
    return {**values, "traversal": TRAVERSAL, "long": LONG, "nul": NUL}


CLI_PARAMS = [
    pytest.param(case, name, id=f"{case.id} [{name}]") for case in CASES for name in _payloads(case.payloads, Path("."))
]


@pytest.fixture(scope="module")
def hostile_data(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """A copy of the scored warehouse: the hostile values are aimed at it."""
    return scored_copy(scored_base, tmp_path_factory.mktemp("hostile")).paths


@pytest.fixture(scope="module")
def before(hostile_data: DataPaths) -> dict[str, object]:
    return _state(hostile_data)


def _state(paths: DataPaths) -> dict[str, object]:
    return {
        "tables": fingerprint(paths.warehouse, (*INGEST_TABLES, "marts.mart_customer_360", "scoring.churn_scores")),
        "files": _files(paths),
    }


def _files(paths: DataPaths) -> dict[str, tuple[int, int]]:
    """Every file under the data folder with its size and modification time: any write shows."""
    return {
        str(p.relative_to(paths.root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(paths.root.rglob("*"))
        if p.is_file() and "prefect" not in p.parts
    }


@pytest.fixture
def in_data(hostile_data: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPaths:
    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(hostile_data.root))
    monkeypatch.setenv("CHURNMESH_LOCK_WAIT_SECONDS", "0")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(DECOY)
    (tmp_path / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "plain.txt").write_text("not a folder\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "etc" / "passwd")
    (tmp_path / "work" / "here").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work" / "here")  # relative names land here, never in the repository
    return hostile_data


def _decoy_intact(tmp_path: Path) -> bool:
    decoy = tmp_path / "etc" / "passwd"
    return decoy.read_text() == DECOY and sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["hosts", "passwd"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses with exit code 2
        code = exc.code
    return int(code or 0), capsys.readouterr().err


@pytest.mark.parametrize(("case", "payload"), CLI_PARAMS)
def test_a_hostile_value_is_refused_by_the_cli(
    case: Case,
    payload: str,
    in_data: DataPaths,
    before: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = _payloads(case.payloads, tmp_path)[payload]
    argv = [part.replace("{}", value) for part in case.argv]
    code, err = run_cli(argv, capsys)
    assert code != 0, (argv, err)
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"churnmesh {case.command[0]}"), errors[0]
    assert re.search(case.refusal, errors[0]), errors[0]
    assert len(errors[0]) < 400, "a hostile value is quoted shortened, not echoed whole"
    assert _files(in_data) == before["files"], "nothing under the data folder may change"
    assert _decoy_intact(tmp_path), "nothing outside may change either"


def test_the_warehouse_is_unchanged_after_every_refusal(hostile_data: DataPaths, before: dict[str, object]) -> None:
    assert _state(hostile_data) == before


def _cli_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _cli_options(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, max(action.option_strings, key=len) if action.option_strings else action.dest


def test_every_cli_option_has_an_injection_case() -> None:
    options = set(_cli_options(build_parser()))
    covered = {(case.command, case.option) for case in CASES}
    missing = sorted(options - covered)
    assert not missing, f"add a Case to tests/test_parameters.py for each new option: {missing}"
    assert not covered - options, f"cases for options that no longer exist: {sorted(covered - options)}"


# ---- Prefect flow parameters ---------------------------------------------------------------------
DATES = {k: v for k, v in HOSTILE.items() if k != "traversal"} | {"compact": "20250801", "week": "2025-W31-5"}
# Relative to <tmp>/work/here: "../../etc" is a decoy system folder (no landing/, no project.yaml).
FOLDERS = {
    "sql-drop": SQL_DROP,
    "env-drop": ENV_DROP,
    "traversal": TRAVERSAL,
    "system-folder": "../../etc",
    "long": "../" + "a" * 5000,
    "nul": "..\x00/etc",
}
MODEL_LISTS = {
    "sql-drop": [SQL_DROP],
    "sql-after-a-good-one": ["core.fct_orders", "core.fct_orders; DROP TABLE raw.orders"],
    "quoted": ['"core"."fct_orders"'],
    "wildcard": ["core.*"],
    "long": ["core." + "a" * 500],
    "nul": ["core.fct_orders\x00"],
    "one-string": SQL_DROP,
}
ENVIRONMENTS = HOSTILE | {"prod": "prod", "upper-prod": "PROD", "fullwidth": "ｄｅｖ", "leading-digit": "1dev"}
FLAGS = {"sql-drop": SQL_DROP, "text-true": "maybe'; --", "number": 7}
FLOW_PARAMETERS = {
    "daily_refresh": {"as_of": DATES, "data_dir": FOLDERS, "project": FOLDERS},
    "backfill_flow": {
        "start": DATES,
        "end": DATES,
        "models": MODEL_LISTS,
        "restate": FLAGS,
        "data_dir": FOLDERS,
        "project": FOLDERS,
    },
    "review_change_flow": {"environment": ENVIRONMENTS, "data_dir": FOLDERS, "project": FOLDERS},
    "train_churn_model": {"as_of": DATES, "data_dir": FOLDERS},
    "run_audits_flow": {"as_of": DATES, "data_dir": FOLDERS},
}


def _valid_arguments(name: str, data_dir: str) -> dict[str, object]:
    day = SCORED_AS_OF
    return {
        "daily_refresh": {"as_of": day, "data_dir": data_dir},
        "backfill_flow": {"start": day, "end": day, "models": ["core.fct_orders"], "data_dir": data_dir},
        "review_change_flow": {"environment": "dev", "data_dir": data_dir},
        "train_churn_model": {"as_of": day, "data_dir": data_dir},
        "run_audits_flow": {"as_of": day, "data_dir": data_dir},
    }[name]


FLOW_PARAMS = [
    pytest.param(name, parameter, value, id=f"{name}({parameter}=[{label}])")
    for name, table in FLOW_PARAMETERS.items()
    for parameter, values in table.items()
    for label, value in values.items()
]


def flow_refusal(flow: Flow, arguments: dict[str, object], parameter: str) -> str:
    """What a flow run with these arguments is refused with: Prefect casts the arguments to the
    flow's annotations first (ParameterTypeError), then the flow's own checks run before it
    touches anything (InvalidParameter)."""
    try:
        validated = flow.validate_parameters(arguments)
    except ParameterTypeError as exc:
        return str(exc)
    # Prefect let it through unchanged; the flow body must refuse it before doing anything.
    assert validated[parameter] == arguments[parameter], validated
    with pytest.raises(parameters.InvalidParameter) as refused:
        flow.fn(**validated)
    return str(refused.value)


@pytest.mark.parametrize(("name", "parameter", "value"), FLOW_PARAMS)
def test_a_hostile_value_is_refused_by_the_flow(
    name: str, parameter: str, value: object, in_data: DataPaths, before: dict[str, object], tmp_path: Path
) -> None:
    arguments = {**_valid_arguments(name, str(in_data.root)), parameter: value}
    message = flow_refusal(getattr(flows, name), arguments, parameter)
    assert parameter in message, message
    assert _files(in_data) == before["files"]
    assert _decoy_intact(tmp_path)


def test_every_flow_parameter_has_injection_cases() -> None:
    defined = {name for name, obj in vars(flows).items() if isinstance(obj, Flow)}
    assert defined == set(FLOW_PARAMETERS), f"cover every flow in FLOW_PARAMETERS: {defined ^ set(FLOW_PARAMETERS)}"
    for name, table in FLOW_PARAMETERS.items():
        signature = inspect.signature(getattr(flows, name).fn)
        assert set(signature.parameters) == set(table), f"{name}: cover each parameter in FLOW_PARAMETERS"


def test_a_failed_run_hook_writes_nothing_for_refused_parameters(
    in_data: DataPaths, before: dict[str, object], tmp_path: Path
) -> None:
    class Run:
        parameters: ClassVar[dict[str, str]] = {"as_of": DATE_DELETE, "data_dir": str(in_data.root)}

    flows._alert_failed_run(flows.daily_refresh, Run(), None)
    Run.parameters = {"as_of": "2025-08-01", "data_dir": "../../etc"}
    flows._alert_failed_run(flows.daily_refresh, Run(), None)
    assert _files(in_data) == before["files"]
    assert _decoy_intact(tmp_path)


def test_good_values_still_pass_the_checks(tmp_path: Path) -> None:
    assert parameters.iso_date("2024-02-29") == date(2024, 2, 29)
    assert parameters.environment("Dev_2") == "dev_2"
    assert parameters.model_names(["Core.Fct_Orders"]) == ["core.fct_orders"]
    assert parameters.customer_id("C0000042") == "C0000042"
    assert parameters.folder(str(tmp_path / "new" / "landing")) == tmp_path / "new" / "landing"
    assert os.fspath(parameters.project_dir(str(PROJECT_ROOT))) == os.fspath(PROJECT_ROOT)
