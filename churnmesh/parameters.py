"""Checks for every user-supplied value (CLI options, Prefect flow parameters).

Values reach SQL only as bound parameters. Where SQL or SQLMesh needs a name (a model, an
environment, a group-by column, a gateway), the value must match a strict ASCII pattern and, where
the set is known, be one of it. Dates are parsed to `date` objects. Paths are checked for what they
must be (an existing file, a folder, a churnmesh data folder). Every refusal is an
`InvalidParameter` (a ValueError) with a one-line message; `argument_type` turns a check into an
argparse type so the CLI refuses bad input before anything runs.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cache, wraps
from pathlib import Path
from typing import NoReturn, TypeVar

import yaml

from churnmesh.settings import PROJECT_ROOT, DataPaths, data_paths
from churnmesh.vocabulary import CUSTOMER_ID, SOURCE_NAMES

T = TypeVar("T")

MAX_TEXT = 256
MAX_PATH = 4096
MAX_MESSAGE = 300
# ASCII digits only: \d would accept other scripts' digits (e.g. fullwidth or Arabic-Indic).
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ENVIRONMENT_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
MODEL_NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}")
CUSTOMER_ID_PATTERN = re.compile(CUSTOMER_ID)
WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")
MONTH_PATTERN = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
QUARTER_PATTERN = re.compile(r"([0-9]{4})-Q([1-4])")
APP_VERSION_PATTERN = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
# The columns of marts.mart_customer_360 that segment customers (group-by and filter names).
SEGMENT_DIMENSIONS = (
    "rfm_segment",
    "value_tier",
    "lifecycle_stage",
    "churn_risk_level",
    "plan_tier",
    "loyalty_tier",
    "region",
    "favourite_category",
)
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_CUSTOMERS = 10_000_000
MAX_WAIT_SECONDS = 24 * 3600
YEARS = (1900, 2999)
PORT_RANGE = (1024, 65535)  # below 1024 needs root; the server runs as the user


class InvalidParameter(ValueError):
    """A user-supplied value that churnmesh refuses; the message says what was expected."""


def refuse(what: str | None, message: str) -> InvalidParameter:
    """The refusal, named after the parameter when there is one (argparse names the option itself)."""
    return InvalidParameter(f"{what}: {message}" if what else message)


def shown(value: object, limit: int = 60) -> str:
    """The value as quoted in a message: repr (so NUL and look-alikes are visible), shortened."""
    quoted = repr(value)
    return quoted if len(quoted) <= limit else f"{quoted[: limit - 5]}...{quoted[-1]} ({len(str(value)):,} characters)"


def text(value: object, what: str | None = None, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise refuse(what, f"must be text, not {type(value).__name__}: {shown(value)}")
    if "\x00" in value:
        raise refuse(what, f"contains a NUL byte: {shown(value)}")
    if len(value) > limit:
        raise refuse(what, f"too long ({len(value):,} characters, at most {limit}): {shown(value)}")
    if not value:
        raise refuse(what, "empty")
    return value


def iso_date(value: object, what: str | None = None) -> date:
    """A `date`, or text of exactly YYYY-MM-DD in ASCII digits."""
    if isinstance(value, datetime):  # a datetime is a date subclass; its time would be dropped silently
        raise refuse(what, f"a date, not a date and time, please: {shown(value)}")
    if isinstance(value, date):
        return value
    raw = text(value, what, 32)
    try:
        parsed = date.fromisoformat(raw) if DATE_PATTERN.fullmatch(raw) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise refuse(what, f"not a date (YYYY-MM-DD): {shown(raw)}")
    if not YEARS[0] <= parsed.year <= YEARS[1]:  # date.max + 1 day (the execution time) would overflow
        raise refuse(what, f"a date from {YEARS[0]} to {YEARS[1]}, please: {shown(raw)}")
    return parsed


def optional_date(value: object, what: str | None = None) -> date | None:
    return None if value is None else iso_date(value, what)


def environment(value: object, allow_prod: bool = True, what: str | None = None) -> str:
    """A SQLMesh environment name: a letter, then letters, digits or _, at most 40; lower case."""
    raw = text(value, what, 64).lower()
    if not ENVIRONMENT_PATTERN.fullmatch(raw):
        raise refuse(what, f"not an environment name (a letter, then up to 39 letters, digits, _): {shown(value)}")
    if raw == "prod" and not allow_prod:
        raise refuse(what, "prod is not a review environment: a review plans into another one, e.g. dev")
    return raw


def model_name(value: object, what: str | None = None) -> str:
    """`schema.model` in ASCII; whether the project has it is checked against the project."""
    raw = text(value, what, 130).lower()
    if not MODEL_NAME_PATTERN.fullmatch(raw):
        raise refuse(what, f"unknown model {shown(value)}: not a model name (schema.model, e.g. core.fct_orders)")
    return raw


def model_names(values: object, what: str | None = None) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):  # a lone string would be split into characters
        raise refuse(what, f"a list of model names, please: {shown(values)}")
    return [model_name(v, what) for v in values]


def flag(value: object, what: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise refuse(what, f"true or false, please: {shown(value)}")
    return value


def customer_id(value: object, what: str | None = None) -> str:
    raw = text(value, what, 32)
    if not CUSTOMER_ID_PATTERN.fullmatch(raw):
        raise refuse(what, f"not a customer id (C and 7 digits, e.g. C0000042): {shown(value)}")
    return raw


def segment_dimension(value: object, what: str | None = None) -> str:
    raw = text(value, what, 32)
    if raw not in SEGMENT_DIMENSIONS:
        raise refuse(what, f"unknown segment dimension {shown(value)}: one of {', '.join(SEGMENT_DIMENSIONS)}")
    return raw


def segment_filter(value: object, what: str | None = None) -> tuple[str, str]:
    """`dimension=value` (e.g. value_tier=high): a segment dimension and the value to keep; the
    value reaches SQL as a bound parameter."""
    raw = text(value, what, 96)
    dimension, equals, wanted = raw.partition("=")
    if not equals or not wanted.strip():
        raise refuse(what, f"a segment as dimension=value (e.g. value_tier=high), not {shown(value)}")
    return segment_dimension(dimension.strip(), what), wanted.strip()


def month(value: object, what: str | None = None) -> date:
    """YYYY-MM, as the first day of the month."""
    raw = text(value, what, 16)
    match = MONTH_PATTERN.fullmatch(raw)
    if not match or not YEARS[0] <= int(match.group(1)) <= YEARS[1]:
        raise refuse(what, f"not a month (YYYY-MM, e.g. 2025-11): {shown(value)}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def quarter(value: object, what: str | None = None) -> date:
    """YYYY-Qn, as the first day of the quarter."""
    raw = text(value, what, 16)
    match = QUARTER_PATTERN.fullmatch(raw)
    if not match or not YEARS[0] <= int(match.group(1)) <= YEARS[1]:
        raise refuse(what, f"not a quarter (YYYY-Qn, e.g. 2025-Q4): {shown(value)}")
    return date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)


def app_version(value: object, what: str | None = None) -> str:
    raw = text(value, what, 16)
    if not APP_VERSION_PATTERN.fullmatch(raw):
        raise refuse(what, f"not an app version (major.minor.patch, e.g. 4.5.0): {shown(value)}")
    return raw


def whole_number(value: object, low: int, high: int, what: str | None = None) -> int:
    raw = str(value) if isinstance(value, int) and not isinstance(value, bool) else text(value, what, 12)
    if not WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
        kind = "positive whole number" if low == 1 else "whole number"
        raise refuse(what, f"not a {kind} from {low:,} to {high:,}: {shown(value)}")
    return int(raw)


def customers(value: object) -> int:
    return whole_number(value, 1, MAX_CUSTOMERS)


def seed(value: object) -> int:
    return whole_number(value, 0, MAX_SEED)


def port(value: object) -> int:
    return whole_number(value, *PORT_RANGE)


def wait_seconds(value: object, what: str | None = None) -> int:
    return whole_number(value, 0, MAX_WAIT_SECONDS, what)


def rate(value: object) -> float:
    raw = text(value, None, 16)
    if not re.fullmatch(r"[0-9]*\.?[0-9]+", raw) or not 0.0 <= float(raw) <= 0.5:
        raise refuse(None, f"not a number between 0 and 0.5: {shown(value)}")
    return float(raw)


@cache
def gateways() -> tuple[str, ...]:
    config = yaml.safe_load((PROJECT_ROOT / "project.yaml").read_text())
    return tuple(config.get("gateways", {}))


def gateway(value: object) -> str:
    raw = text(value, None, 64)
    if raw not in gateways():
        raise refuse(None, f"unknown gateway {shown(value)}: one of {', '.join(gateways())} (project.yaml)")
    return raw


def user_path(value: object, what: str | None = None) -> Path:
    return Path(text(value, what, MAX_PATH)).expanduser()


def input_file(value: object) -> Path:
    path = user_path(value)
    if not path.is_file():
        raise refuse(None, f"no such file: {shown(str(path))}")
    return path


def output_file(value: object, suffix: str = ".csv") -> Path:
    """A file to write (replace) with `suffix`: the suffix keeps a mistyped or hostile path from
    overwriting a file of another kind (a config, /etc/passwd when run as root); a symlink could
    point anywhere, so an existing file must be a plain one."""
    path = user_path(value)
    if path.suffix.lower() != suffix:
        raise refuse(None, f"the output file name must end in {suffix}: {shown(str(path))}")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise refuse(None, f"not a plain file (a link, a folder or a device): {shown(str(path))}")
    if not path.absolute().parent.is_dir():
        raise refuse(None, f"the folder of {shown(str(path))} does not exist")
    return path


def folder(value: object, what: str | None = None, must_exist: bool = False) -> Path:
    path = user_path(value, what)
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():  # the path itself, or a folder "inside" a file
        raise refuse(what, f"not a folder: {shown(str(path))}")
    if must_exist and not path.is_dir():
        raise refuse(what, f"folder {shown(str(path))} does not exist")
    return path


def landing_folder(value: object) -> Path:
    """A folder to write landing files into: new, empty, or a landing folder already (it holds
    source folders or _truth/); never a folder holding other things, such as /etc or a home."""
    path = folder(value)
    known = {*SOURCE_NAMES, "_truth"}
    if path.is_dir() and any(path.iterdir()) and not any((path / name).is_dir() for name in known):
        raise refuse(None, f"not a landing folder (it holds other files): {shown(str(path))}")
    return path


def column_name(value: object) -> str:
    return text(value)


def date_format(value: object) -> str:
    raw = text(value, None, 64)
    if "%" not in raw:
        raise refuse(None, f"not a strftime date format (e.g. %Y%m%d): {shown(value)}")
    return raw


def separator(value: object) -> str:
    """One character (a longer pandas separator is a regular expression), or 'whitespace'."""
    raw = text(value, None, 16)
    if raw != "whitespace" and (len(raw) != 1 or raw in "\"'\r\n" or raw.isalnum()):
        raise refuse(None, f"one character (not a letter, digit or quote) or 'whitespace': {shown(value)}")
    return raw


def data_dir(value: object, what: str = "data_dir") -> DataPaths:
    """A flow's data folder: None (the configured one) or an existing churnmesh data folder,
    recognised by its landing/ folder or its warehouse; nothing is created anywhere else."""
    if value is None:
        return data_paths()
    paths = data_paths(folder(value, what, must_exist=True))
    if not (paths.landing.is_dir() or paths.warehouse.is_file()):
        raise refuse(what, f"not a churnmesh data folder (no landing/ or warehouse.duckdb): {shown(str(value))}")
    return paths


PROJECT_DIR_ENV = "CHURNMESH_PROJECT_DIR"


def project_dir(value: object, what: str = "project") -> Path:
    """A flow's SQLMesh project: a folder holding a project.yaml; None is CHURNMESH_PROJECT_DIR
    when set (a served deployment's project), else this repository."""
    if value is None:
        value = os.environ.get(PROJECT_DIR_ENV)
    if value is None:
        return PROJECT_ROOT
    path = folder(value, what, must_exist=True).resolve()
    if not (path / "project.yaml").is_file():
        raise refuse(what, f"not a SQLMesh project (no project.yaml): {shown(str(value))}")
    return path


def one_of(allowed: Iterable[str], what: str | None = None) -> Callable[[object], str]:
    """A check that the value is one of `allowed` (argparse's own `choices` message would echo a
    hostile value whole)."""
    names = tuple(allowed)

    def choice(value: object) -> str:
        raw = text(value, what, 64)
        if raw not in names:
            raise refuse(what, f"one of {', '.join(names)}, not {shown(value)}")
        return raw

    return choice


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with bounded error messages: argparse itself quotes a refused value whole
    (`--flag=<10,000 characters>`); subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        if len(message) > MAX_MESSAGE:
            message = f"{message[: MAX_MESSAGE - 40]}... ({len(message):,} characters)"
        super().error(message)


def argument_type(check: Callable[[str], T], name: str | None = None) -> Callable[[str], T]:
    """The check as an argparse type: a refusal becomes argparse's usage error (exit code 2)."""

    @wraps(check)
    def parse(value: str) -> T:
        try:
            return check(value)
        except InvalidParameter as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name or check.__name__
    return parse
