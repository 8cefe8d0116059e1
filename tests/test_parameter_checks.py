"""Each parameter check on its own: what it accepts (and returns), what it refuses, and the exact
message a user reads. tests/test_parameters.py sends hostile values through the CLI and the flows;
this file pins each check's edges (lengths, ranges, patterns) and wording."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path

import pytest

from churnmesh import parameters as p
from churnmesh.settings import PROJECT_ROOT


def refused(check: object, value: object, *args: object) -> str:
    with pytest.raises(p.InvalidParameter) as info:
        check(value, *args)  # type: ignore[operator]
    return str(info.value)


def test_a_refusal_is_named_after_its_parameter_when_there_is_one() -> None:
    assert str(p.refuse("as_of", "empty")) == "as_of: empty"
    assert str(p.refuse(None, "empty")) == "empty"
    assert isinstance(p.refuse(None, "x"), ValueError)


def test_a_value_is_shown_quoted_and_cut_to_its_limit() -> None:
    assert p.shown("abc") == "'abc'"
    assert p.shown("a\x00b") == "'a\\x00b'"
    assert p.shown("x" * 58) == "'" + "x" * 58 + "'"  # exactly 60 with its quotes: whole
    assert p.shown("x" * 59) == "'" + "x" * 54 + "...' (59 characters)"
    assert p.shown("y" * 12_345, limit=20) == "'" + "y" * 14 + "...' (12,345 characters)"


def test_text_is_a_non_empty_string_without_nul_within_its_limit() -> None:
    assert p.text("x" * p.MAX_TEXT) == "x" * p.MAX_TEXT
    assert p.text("abc", "name", 3) == "abc"
    assert refused(p.text, "abcd", "name", 3) == "name: too long (4 characters, at most 3): 'abcd'"
    assert refused(p.text, "x" * 1001, None, 1000).startswith("too long (1,001 characters, at most 1000)")
    assert refused(p.text, 5, "name") == "name: must be text, not int: 5"
    assert refused(p.text, "a\x00", "name") == "name: contains a NUL byte: 'a\\x00'"
    assert refused(p.text, "", "name") == "name: empty"


def test_an_iso_date_is_a_date_or_exactly_yyyy_mm_dd_from_1900_to_2999() -> None:
    assert p.iso_date("2025-01-31") == date(2025, 1, 31)
    assert p.iso_date(date(2025, 1, 31)) == date(2025, 1, 31)
    assert p.iso_date("1900-01-01") == date(1900, 1, 1) and p.iso_date("2999-12-31") == date(2999, 12, 31)
    assert refused(p.iso_date, "1899-12-31", "as_of") == "as_of: a date from 1900 to 2999, please: '1899-12-31'"
    assert refused(p.iso_date, "3000-01-01", "as_of") == "as_of: a date from 1900 to 2999, please: '3000-01-01'"
    for bad in ("2025-02-30", "2025-1-31", "20250131", "2025-01-31T00:00", " 2025-01-31"):
        assert refused(p.iso_date, bad, "as_of") == f"as_of: not a date (YYYY-MM-DD): {bad!r}"
    message = refused(p.iso_date, datetime(2025, 1, 31, 12), "as_of")
    assert message.startswith("as_of: a date, not a date and time, please: datetime.datetime(2025, 1, 31, 12")
    assert refused(p.iso_date, "x" * 33, "as_of").startswith("as_of: too long (33 characters, at most 32)")
    assert p.optional_date(None) is None and p.optional_date("2025-01-31") == date(2025, 1, 31)


def test_an_environment_is_a_lower_case_name_of_at_most_40() -> None:
    assert p.environment("Dev") == "dev"
    assert p.environment("a" + "b1_" * 13) == "a" + "b1_" * 13  # 40 characters
    assert p.environment("prod") == "prod"
    expected = "env: not an environment name (a letter, then up to 39 letters, digits, _): "
    for bad in ("a" * 41, "1dev", "dev-1", "dev;"):
        assert refused(p.environment, bad, True, "env") == expected + repr(bad)
    no_prod = "env: prod is not a review environment: a review plans into another one, e.g. dev"
    assert refused(p.environment, "PROD", False, "env") == no_prod
    assert p.environment("dev", False) == "dev"
    assert refused(p.environment, "x" * 65, True, "env").startswith("env: too long (65 characters, at most 64)")


def test_a_model_name_is_schema_dot_model() -> None:
    assert p.model_name("Core.Fct_Orders") == "core.fct_orders"
    expected = "model: unknown model {}: not a model name (schema.model, e.g. core.fct_orders)"
    for bad in ("fct_orders", "core.fct_orders.x", "core.1x", "core.fct orders"):
        assert refused(p.model_name, bad, "model") == expected.format(repr(bad))
    assert p.model_names(None) == []
    assert p.model_names(("core.fct_orders", "marts.mart_clv")) == ["core.fct_orders", "marts.mart_clv"]
    assert (
        refused(p.model_names, "core.fct_orders", "models")
        == "models: a list of model names, please: 'core.fct_orders'"
    )


def test_flags_customer_ids_and_segments() -> None:
    assert p.flag(True) is True and p.flag(False) is False
    assert refused(p.flag, "true", "restate") == "restate: true or false, please: 'true'"
    assert p.customer_id("C0000042") == "C0000042"
    for bad in ("c0000042", "C000004", "C00000420", "C0000042 "):
        assert refused(p.customer_id, bad, "id") == f"id: not a customer id (C and 7 digits, e.g. C0000042): {bad!r}"
    assert p.segment_dimension("value_tier") == "value_tier"
    message = refused(p.segment_dimension, "email", "by")
    assert message == f"by: unknown segment dimension 'email': one of {', '.join(p.SEGMENT_DIMENSIONS)}"
    assert p.segment_filter(" value_tier = high ") == ("value_tier", "high")
    assert p.segment_filter("plan_tier=a=b") == ("plan_tier", "a=b")
    for bad in ("value_tier", "value_tier=", "value_tier=  "):
        expected = f"segment: a segment as dimension=value (e.g. value_tier=high), not {bad!r}"
        assert refused(p.segment_filter, bad, "segment") == expected


def test_months_quarters_and_app_versions() -> None:
    assert p.month("2025-11") == date(2025, 11, 1) and p.month("1900-01") == date(1900, 1, 1)
    for bad in ("2025-13", "2025-00", "2025-1", "1899-12", "3000-01"):
        assert refused(p.month, bad, "period") == f"period: not a month (YYYY-MM, e.g. 2025-11): {bad!r}"
    assert [p.quarter(f"2025-Q{n}") for n in (1, 2, 3, 4)] == [date(2025, m, 1) for m in (1, 4, 7, 10)]
    assert p.quarter("2999-Q4") == date(2999, 10, 1)
    for bad in ("2025-Q5", "2025-Q0", "2025Q1", "3000-Q1", "1899-Q4"):
        assert refused(p.quarter, bad, "period") == f"period: not a quarter (YYYY-Qn, e.g. 2025-Q4): {bad!r}"
    assert p.app_version("4.5.0") == "4.5.0" and p.app_version("100.200.300") == "100.200.300"
    for bad in ("4.5", "4.5.0.1", "1000.0.0", "v4.5.0"):
        expected = f"version: not an app version (major.minor.patch, e.g. 4.5.0): {bad!r}"
        assert refused(p.app_version, bad, "version") == expected


def test_whole_numbers_within_their_range() -> None:
    assert p.whole_number(5, 1, 5) == 5 and p.whole_number("1", 1, 5) == 1
    assert refused(p.whole_number, 6, 1, 5, "n") == "n: not a positive whole number from 1 to 5: 6"
    assert refused(p.whole_number, "0", 1, 5, "n") == "n: not a positive whole number from 1 to 5: '0'"
    assert refused(p.whole_number, -1, 0, 2000, "n") == "n: not a whole number from 0 to 2,000: -1"
    assert refused(p.whole_number, True, 0, 5, "n") == "n: must be text, not bool: True"
    assert refused(p.whole_number, "1.0", 0, 5, "n") == "n: not a whole number from 0 to 5: '1.0'"
    assert p.customers(p.MAX_CUSTOMERS) == p.MAX_CUSTOMERS
    assert refused(p.customers, p.MAX_CUSTOMERS + 1).startswith("not a positive whole number from 1 to 10,000,000")
    assert p.seed(0) == 0 and p.seed(2**32 - 1) == 2**32 - 1
    assert refused(p.seed, 2**32).startswith("not a whole number from 0 to 4,294,967,295")
    assert p.port(1024) == 1024 and p.port(65535) == 65535
    assert refused(p.port, 1023) == "not a whole number from 1,024 to 65,535: 1023"
    assert p.wait_seconds(0) == 0 and p.wait_seconds(86_400) == 86_400
    assert refused(p.wait_seconds, 86_401, "wait") == "wait: not a whole number from 0 to 86,400: 86401"


def test_a_rate_is_a_number_from_0_to_half() -> None:
    assert p.rate("0") == 0.0 and p.rate("0.5") == 0.5 and p.rate(".1") == 0.1
    for bad in ("0.51", "-0.1", "1e-3", "0.1.2", "abc"):
        assert refused(p.rate, bad) == f"not a number between 0 and 0.5: {bad!r}"


def test_gateways_come_from_the_project() -> None:
    assert p.gateways() and all(isinstance(name, str) for name in p.gateways())
    assert "gateways:" in (PROJECT_ROOT / "project.yaml").read_text()
    first = p.gateways()[0]
    assert p.gateway(first) == first
    assert refused(p.gateway, "nope") == f"unknown gateway 'nope': one of {', '.join(p.gateways())} (project.yaml)"


def test_files_and_folders(tmp_path: Path) -> None:
    existing = tmp_path / "in.csv"
    existing.write_text("x")
    assert p.input_file(str(existing)) == existing
    assert refused(p.input_file, str(tmp_path / "no.csv")) == f"no such file: {p.shown(str(tmp_path / 'no.csv'))}"
    assert p.output_file(str(tmp_path / "out.CSV")) == tmp_path / "out.CSV"
    assert p.output_file(str(tmp_path / "out.html"), ".html") == tmp_path / "out.html"
    target = str(tmp_path / "out.txt")
    assert refused(p.output_file, target) == f"the output file name must end in .csv: {p.shown(target)}"
    link = tmp_path / "link.csv"
    link.symlink_to(existing)
    assert refused(p.output_file, str(link)) == f"not a plain file (a link, a folder or a device): {p.shown(str(link))}"
    (tmp_path / "dir.csv").mkdir()
    assert refused(p.output_file, str(tmp_path / "dir.csv")).startswith("not a plain file")
    missing = str(tmp_path / "missing" / "out.csv")
    assert refused(p.output_file, missing) == f"the folder of {p.shown(missing)} does not exist"
    assert p.folder(str(tmp_path / "new")) == tmp_path / "new"
    inside_file = str(existing / "sub")
    assert refused(p.folder, inside_file, "out") == f"out: not a folder: {p.shown(inside_file)}"
    assert (
        refused(p.folder, str(tmp_path / "new"), "out", True)
        == f"out: folder {p.shown(str(tmp_path / 'new'))} does not exist"
    )
    assert p.user_path("~/x") == Path.home() / "x"


def test_a_landing_folder_is_new_empty_or_a_landing_folder_already(tmp_path: Path) -> None:
    assert p.landing_folder(str(tmp_path / "new")) == tmp_path / "new"
    assert p.landing_folder(str(tmp_path)) == tmp_path  # empty
    (tmp_path / "orders").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert p.landing_folder(str(tmp_path)) == tmp_path  # holds a source folder
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert (
        refused(p.landing_folder, str(other)) == f"not a landing folder (it holds other files): {p.shown(str(other))}"
    )
    truth = tmp_path / "truth_only"
    (truth / "_truth").mkdir(parents=True)
    assert p.landing_folder(str(truth)) == truth


def test_column_names_date_formats_and_separators() -> None:
    assert p.column_name("amount") == "amount"
    assert p.date_format("%Y%m%d") == "%Y%m%d"
    assert refused(p.date_format, "YYYYMMDD") == "not a strftime date format (e.g. %Y%m%d): 'YYYYMMDD'"
    for good in (",", ";", "\t", "|", "whitespace"):
        assert p.separator(good) == good
    for bad in ("ab", "a", "1", '"', "'", "\n", "\r", "Whitespace"):
        assert refused(p.separator, bad) == f"one character (not a letter, digit or quote) or 'whitespace': {bad!r}"


def test_a_data_folder_and_a_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "landing").mkdir(parents=True)
    assert p.data_dir(str(data)).root == data
    empty = tmp_path / "empty"
    empty.mkdir()
    expected = f"data_dir: not a churnmesh data folder (no landing/ or warehouse.duckdb): {p.shown(str(empty))}"
    assert refused(p.data_dir, str(empty)) == expected
    (empty / "warehouse.duckdb").write_bytes(b"")
    assert p.data_dir(str(empty)).root == empty
    monkeypatch.delenv(p.PROJECT_DIR_ENV, raising=False)
    assert p.project_dir(None) == PROJECT_ROOT
    assert (
        refused(p.project_dir, str(tmp_path))
        == f"project: not a SQLMesh project (no project.yaml): {p.shown(str(tmp_path))}"
    )
    (tmp_path / "project.yaml").write_text("")
    monkeypatch.setenv(p.PROJECT_DIR_ENV, str(tmp_path))
    assert p.project_dir(None) == tmp_path.resolve()


def test_one_of_and_argparse_types() -> None:
    check = p.one_of(["json", "table"], "format")
    assert check("json") == "json"
    assert refused(check, "csv") == "format: one of json, table, not 'csv'"
    parse = p.argument_type(p.customer_id, "customer id")
    assert parse("C0000042") == "C0000042" and parse.__name__ == "customer id"
    assert p.argument_type(p.customer_id).__name__ == "customer_id"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^not a customer id"):
        parse("x")


def test_argparse_errors_are_cut_to_a_readable_length(capsys: pytest.CaptureFixture[str]) -> None:
    parser = p.ArgumentParser(prog="churnmesh")
    with pytest.raises(SystemExit) as exit_info:
        parser.error("x" * 1000)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "churnmesh: error: " + "x" * (p.MAX_MESSAGE - 40) + "... (1,000 characters)"
    with pytest.raises(SystemExit):
        parser.error("y" * p.MAX_MESSAGE)
    assert capsys.readouterr().err.strip().endswith("y" * p.MAX_MESSAGE)


# Each check's own length cap: at the cap the value reaches the check's pattern or range, one
# above it is refused for its length, whatever else is wrong with it.
NAMED_CAPS = [
    (p.iso_date, (), 32),
    (p.environment, (True,), 64),
    (p.model_name, (), 130),
    (p.customer_id, (), 32),
    (p.segment_dimension, (), 32),
    (p.segment_filter, (), 96),
    (p.month, (), 16),
    (p.quarter, (), 16),
    (p.app_version, (), 16),
    (p.whole_number, (1, 5), 12),
    (p.user_path, (), p.MAX_PATH),
]
UNNAMED_CAPS = [(p.rate, 16), (p.gateway, 64), (p.date_format, 64), (p.separator, 16), (p.one_of(["a"]), 64)]


@pytest.mark.parametrize(("check", "args", "cap"), NAMED_CAPS, ids=lambda c: getattr(c, "__name__", None))
def test_each_named_check_refuses_one_character_over_its_cap_under_the_parameters_name(
    check: object, args: tuple[object, ...], cap: int
) -> None:
    over = "9" * (cap + 1)
    assert refused(check, over, *args, "--opt").startswith(f"--opt: too long ({cap + 1:,} characters, at most {cap})")
    at_cap = "9" * cap
    try:
        check(at_cap, *args, "--opt")  # type: ignore[operator]
    except p.InvalidParameter as refusal:
        assert str(refusal).startswith("--opt: ") and "too long" not in str(refusal)


@pytest.mark.parametrize(("check", "cap"), UNNAMED_CAPS, ids=lambda c: getattr(c, "__name__", None))
def test_each_unnamed_check_refuses_one_character_over_its_cap(check: object, cap: int) -> None:
    assert refused(check, "9" * (cap + 1)).startswith(f"too long ({cap + 1:,} characters, at most {cap})")
    try:
        check("9" * cap)  # type: ignore[operator]
    except p.InvalidParameter as refusal:
        assert "too long" not in str(refusal)


def test_checks_built_on_others_name_the_parameter_in_every_refusal(tmp_path: Path) -> None:
    assert refused(p.optional_date, "2025-13-01", "--as-of") == "--as-of: not a date (YYYY-MM-DD): '2025-13-01'"
    assert refused(p.model_names, ["core.fct_orders", "nope"], "--models").startswith("--models: unknown model 'nope'")
    assert refused(p.segment_filter, "nope=1", "--segment").startswith("--segment: unknown segment dimension 'nope'")
    assert refused(p.one_of(["a", "b"], "--kind"), "c") == "--kind: one of a, b, not 'c'"
    assert refused(p.one_of(["a"], "--kind"), "x" * 65).startswith("--kind: too long (65 characters")
    missing = tmp_path / "missing"
    assert refused(p.folder, str(missing), "--out", True) == f"--out: folder {p.shown(str(missing))} does not exist"
    assert refused(p.folder, "x" * (p.MAX_PATH + 1), "--out").startswith("--out: too long")
    assert refused(p.data_dir, str(missing)) == f"data_dir: folder {p.shown(str(missing))} does not exist"
    assert refused(p.data_dir, str(missing), "--data-dir").startswith("--data-dir: folder")
    assert refused(p.project_dir, str(missing)) == f"project: folder {p.shown(str(missing))} does not exist"
    assert refused(p.project_dir, str(missing), "--project").startswith("--project: folder")


@pytest.mark.parametrize(
    ("check", "first", "last"), [(p.month, "1900-01", "2999-12"), (p.quarter, "1900-Q1", "2999-Q4")]
)
def test_months_and_quarters_span_exactly_the_years_1900_to_2999(check: object, first: str, last: str) -> None:
    assert check(first) == date(1900, 1, 1)  # type: ignore[operator]
    assert check(last).year == 2999  # type: ignore[operator]
    for outside in (first.replace("1900", "1899"), last.replace("2999", "3000")):
        assert refused(check, outside, "--month").startswith("--month: not a ")
