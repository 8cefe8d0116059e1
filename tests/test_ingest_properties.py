"""Properties of ingestion's row accounting, checked against the files themselves:

- the row hash covers every contract column: a row changed in any one column is a new row, an
  identical row is a duplicate;
- raw never holds a quarantined row, and key conflicts are quarantined as such;
- every manifest row accounts for exactly the records of its file, and for the rows raw and
  quarantine hold under its name.

Sources and columns come from churnmesh.contracts; test rows start from the one valid row per
source of tests/hostile_corpus.py and vary one cell at a time.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from churnmesh.contracts import SOURCES, Column, Source
from churnmesh.ingestion import ingest
from churnmesh.ingestion.reader import landing_name
from churnmesh.ingestion.validate import ContractValidator
from tests.helpers import query, write
from tests.hostile_corpus import CASES, VALID_ROW

Row = dict[str, str]  # a landing row as text, in contract column order; "" is an empty cell

# After the events of VALID_ROW (2024-01-08), so no row is dated after its file.
FIRST_DAY, LATER_DAY = "2024-01-09", "2024-01-10"
# Test rows' keys are 10 apart and a changed key is +1, so a changed key never meets another row's.
KEY_SPACING = 10
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# Small chunks, so files span several chunks and validation batches.
SMALL_CHUNKS = 3
DIRTY_CHUNKS = 100
# Columns no valid row can change alone, and why. The row hash cannot be tested through them, and
# does not need them: two valid rows that differ in such a column differ in another one too.
INSEPARABLE = {("orders", "order_type"): "quantity's sign must match it (quantity_sign_matches_type)"}


# Valid rows and one-column variants, derived from the contracts.


def valid_row(source: Source) -> Row:
    row = dict(VALID_ROW[source.name])
    assert tuple(row) == source.column_names, f"VALID_ROW[{source.name!r}] no longer matches its contract"
    return row


def add_to_number(text: str, n: int) -> str:
    """Add n to the number a text ends with, keeping its width: C0000001 + 10 is C0000011."""
    match = re.search(r"[0-9]+\Z", text)
    assert match, f"{text!r} does not end with a number"
    digits = match.group()
    return text[: match.start()] + str(int(digits) + n).zfill(len(digits))


def with_key(source: Source, row: Row, n: int) -> Row:
    """The row with n added to its first key column (every source's first key is a numbered ID)."""
    key = source.key[0]
    return {**row, key: add_to_number(row[key], n)}


def next_text(text: str) -> str:
    if text[-1].isdigit():
        return add_to_number(text, 1)
    if text[-1].isascii() and text[-1].isalpha():
        first = "a" if text[-1].islower() else "A"
        return text[:-1] + chr(ord(first) + (ord(text[-1]) - ord(first) + 1) % 26)
    return text + "x"


def shifted(kind: str, text: str) -> list[str]:
    """Values next to a cell's value, of the same kind."""
    if kind == "int":
        return [str(int(text) + 1), str(int(text) - 1)]
    if kind == "float":
        return [f"{float(text) + 1:.2f}", f"{float(text) - 1:.2f}"]
    if kind == "bool":
        return ["false" if text == "true" else "true"]
    if kind == "date":
        day = date.fromisoformat(text)
        return [(day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat()]
    if kind == "datetime":
        moment = datetime.fromisoformat(text)
        return [(moment + d).strftime(TIMESTAMP_FORMAT) for d in (timedelta(minutes=1), timedelta(minutes=-1))]
    return [next_text(text)]


@cache  # building a pandera schema is slow
def allowed_values(source: Source, name: str) -> list[str]:
    checks = source.contract.to_schema().columns[name].checks
    return sorted(str(v) for check in checks for v in check.statistics.get("allowed_values") or ())


def candidates(source: Source, column: Column, row: Row) -> Iterator[str]:
    """Values a cell could take instead of its own; the contract decides which are valid."""
    value = row[column.name]
    if value:
        yield from shifted(column.kind, value)
        if column.nullable:
            yield ""
    else:
        # An empty cell borrows the value of another column of its kind (an end date, an order id).
        yield from (row[c.name] for c in source.columns if c.kind == column.kind and row[c.name])
    yield from allowed_values(source, column.name)


def valid_under_contract(source: Source, rows: list[Row], day: str) -> list[bool]:
    """Which rows the contract accepts in a file of that day (key uniqueness aside)."""
    frame = pd.DataFrame([{n: r[n] or None for n in source.column_names} for r in rows], dtype=object)
    frame.insert(0, "_row_number", range(1, len(rows) + 1))
    frame["_file_date"] = pd.Timestamp(day)
    valid = ContractValidator(source).validate(frame).valid.index
    return [index in valid for index in frame.index]


def one_column_variants(source: Source, bases: dict[str, Row], day: str) -> dict[str, Row]:
    """For each column in `bases`, its base row with only that cell changed to a value the contract
    accepts; a column for which no candidate is valid is left out."""
    tried = [
        (column.name, {**bases[column.name], column.name: value})
        for column in source.columns
        if column.name in bases
        for value in candidates(source, column, bases[column.name])
        if value != bases[column.name][column.name]
    ]
    variants: dict[str, Row] = {}
    for (name, row), ok in zip(tried, valid_under_contract(source, [r for _, r in tried], day), strict=True):
        if ok:
            variants.setdefault(name, row)
    return {name: variants[name] for name in source.column_names if name in variants}


def csv_text(source: Source, rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(source.column_names)
    writer.writerows(rows)
    return out.getvalue()


def cells(source: Source, row: Row) -> list[str]:
    return [row[name] for name in source.column_names]


def manifest_counts(warehouse: Path, rel: str) -> tuple[int, int, int, int]:
    (counts,) = query(
        warehouse,
        "SELECT rows_in, rows_loaded, rows_rejected, rows_duplicate FROM raw.ingest_manifest WHERE file_path = ?",
        [rel],
    )
    return counts


def row_numbers(warehouse: Path, table: str, rel: str) -> set[int]:
    return {n for (n,) in query(warehouse, f"SELECT _row_number FROM {table} WHERE _source_file = ?", [rel])}


# 1. The row hash covers every contract column.


@dataclass(frozen=True)
class OneColumnCase:
    bases: dict[str, Row]  # column -> a row of the first file, one key per column
    variants: dict[str, Row]  # column -> its base row changed in that column only, for the later file
    resent: Row  # in both files, byte for byte


def one_column_case(source: Source) -> OneColumnCase:
    template, names = valid_row(source), source.column_names
    bases = {name: with_key(source, template, KEY_SPACING * i) for i, name in enumerate(names)}
    resent = with_key(source, template, KEY_SPACING * len(names))
    assert all(valid_under_contract(source, [*bases.values(), resent], FIRST_DAY))
    return OneColumnCase(bases, one_column_variants(source, bases, LATER_DAY), resent)


def assert_later_file_has_no_key_conflict(source: Source, case: OneColumnCase) -> None:
    """Two different rows with one key in a file are a key conflict, which is not what is tested."""
    keys = [tuple(r[k] for k in source.key) for r in [*case.variants.values(), case.resent]]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("same_run", [True, False], ids=["same run", "later run"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_a_row_changed_in_any_one_column_is_new_and_an_identical_row_is_a_duplicate(
    source: Source, same_run: bool, tmp_path: Path
) -> None:
    """Same run: both files in one batch, deduplicated against each other. Later run: the later
    file is compared with what raw already holds (only rows of the same key, by design)."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    case = one_column_case(source)
    assert_later_file_has_no_key_conflict(source, case)
    # The candidates of an isin column include every accepted value, so this is exhaustive there.
    inseparable = {column for name, column in INSEPARABLE if name == source.name}
    assert set(source.column_names) - set(case.variants) == inseparable, "columns without a valid one-column change"
    first, later = f"{source.name}/{FIRST_DAY}.csv", f"{source.name}/{LATER_DAY}.csv"
    write(landing / first, csv_text(source, [cells(source, r) for r in [*case.bases.values(), case.resent]]))
    if not same_run:
        ingest(landing, warehouse)
    write(landing / later, csv_text(source, [cells(source, r) for r in [*case.variants.values(), case.resent]]))
    ingest(landing, warehouse, chunk_rows=SMALL_CHUNKS)

    loaded = row_numbers(warehouse, f"raw.{source.name}", later)
    not_new = [name for number, name in enumerate(case.variants, 1) if number not in loaded]
    assert not not_new, f"a row that differs only in {not_new} was not loaded as a new row"
    bases, variants = len(case.bases), len(case.variants)
    assert variants + 1 not in loaded, "the identical row sent again was loaded again"
    assert manifest_counts(warehouse, first) == (bases + 1, bases + 1, 0, 0)
    assert manifest_counts(warehouse, later) == (variants + 1, variants, 0, 1)


# 2. Raw never holds a quarantined row.


@dataclass(frozen=True)
class ConflictFile:
    rows: list[list[str]]
    conflicting: set[int]  # row numbers of the rows whose key has two or more versions in the file
    loaded: set[int]
    duplicate: set[int]


def changeable_columns(source: Source) -> list[str]:
    return [n for n in source.column_names if n not in source.key and (source.name, n) not in INSEPARABLE]


def conflict_file(source: Source) -> ConflictFile:
    """Rows 1 and 10 are good; 2-3 are two versions of one key (and 4 repeats 2 verbatim: a
    duplicate, not a third version); 5-7 three versions of another; 8 has an empty key; 9 an
    extra field."""
    template = valid_row(source)
    two, three, empty_key, extra_field, last = (with_key(source, template, KEY_SPACING * n) for n in range(1, 6))
    a, b = changeable_columns(source)[:2]
    second = one_column_variants(source, {a: two}, FIRST_DAY)
    third = one_column_variants(source, {a: three, b: three}, FIRST_DAY)
    assert a in second and {a, b} <= set(third), f"{source.name}: no valid change of {a} or {b}"
    empty_key[source.key[0]] = ""
    rows = [template, two, second[a], two, three, third[a], third[b], empty_key]
    return ConflictFile(
        rows=[*(cells(source, r) for r in rows), [*cells(source, extra_field), "extra"], cells(source, last)],
        conflicting={2, 3, 5, 6, 7},
        loaded={1, 10},
        duplicate={4},
    )


def write_conflict_files(landing: Path, name: str) -> dict[str, str]:
    """One conflict file per source; returns source name -> the file's landing name."""
    written = {}
    for source in SOURCES:
        path = write(landing / source.name / name, csv_text(source, conflict_file(source).rows))
        written[source.name] = landing_name(landing, path)
    return written


@pytest.fixture(scope="module")
def conflict_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("conflicts")
    files = write_conflict_files(root / "landing", f"{FIRST_DAY}.csv")
    ingest(root / "landing", root / "warehouse.duckdb", chunk_rows=SMALL_CHUNKS)
    return root / "warehouse.duckdb", files


def positions(warehouse: Path, table: str) -> set[tuple[str, int]]:
    return set(query(warehouse, f"SELECT _source_file, _row_number FROM {table}"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_raw_never_holds_a_quarantined_row(source: Source, conflict_warehouse: tuple[Path, dict[str, str]]) -> None:
    warehouse, files = conflict_warehouse
    raw, quarantine = f"raw.{source.name}", f"quarantine.{source.name}"
    both = positions(warehouse, raw) & positions(warehouse, quarantine)
    assert not both, f"rows both loaded and quarantined: {sorted(both)}"
    rel, expected = files[source.name], conflict_file(source)
    reasons = dict(
        query(warehouse, f"SELECT _row_number, _reject_reason FROM {quarantine} WHERE _source_file = ?", [rel])
    )
    not_flagged = {
        n: reasons.get(n) for n in expected.conflicting if not (reasons.get(n) or "").startswith("key conflict")
    }
    assert not not_flagged, f"key-conflict rows not quarantined as key conflicts: {not_flagged}"
    assert row_numbers(warehouse, raw, rel) == expected.loaded
    assert not expected.duplicate & set(reasons), "a duplicate of a conflicting row was quarantined"
    rows_in, loaded, duplicate = len(expected.rows), len(expected.loaded), len(expected.duplicate)
    assert manifest_counts(warehouse, rel) == (rows_in, loaded, rows_in - loaded - duplicate, duplicate)


# 3. Every manifest row accounts for its file.


def data_records(path: Path) -> int:
    """The records a file read as rows must account for, counted without the loader: the rows in a
    Parquet footer, or the csv module's records after the header (a quoted value may span lines,
    a blank line is no record, a last line cut short is one)."""
    if path.suffix.lower() == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    text = path.read_bytes().decode("utf-8-sig")
    return sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record) - 1


def lines_after_the_first(path: Path) -> int:
    """What a file rejected whole accounts for: it cannot be split into records (it may not even be
    text), so its non-blank lines after the first, the header; a Parquet file rejected whole, whose
    footer may be the broken part, counts none."""
    if path.suffix.lower() == ".parquet":
        return 0
    return max(0, sum(1 for line in path.read_bytes().split(b"\n") if line.strip()) - 1)


def copy_as(path: Path, label: str) -> None:
    """A re-delivery: the same bytes under a new name of the same day, sorted after the original's
    ("_" after "." and "-"), so the original is the one loaded."""
    match = re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", path.name)
    if match:
        shutil.copy(path, path.with_name(f"{match.group()}_{label}{path.name[match.end() :]}"))


def redeliver(landing: Path, dirty_landing: Path, label: str) -> None:
    """Copy the files with a whole-file fault, the first file of each source and the header-only
    files: loaded, rejected and empty files each have re-deliveries."""
    faulted = pd.read_csv(dirty_landing / "_truth" / "file_faults.csv")["file"]
    firsts = [min((dirty_landing / s.name).glob("*.csv")).relative_to(dirty_landing).as_posix() for s in SOURCES]
    header_only = [f"{c.source}/{c.name}" for c in CASES if "header-only" in c.name]
    for rel in sorted({*faulted, *firsts, *header_only}):
        copy_as(landing / rel, label)


@pytest.fixture(scope="module")
def hostile_load(dirty_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The generator's dirty landing, the hostile corpus, key conflicts and re-deliveries (in the
    same run and in a later one, which are told apart differently), loaded in two runs."""
    root = tmp_path_factory.mktemp("hostile_load")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    for source in SOURCES:
        shutil.copytree(dirty_landing / source.name, landing / source.name)
    for case in CASES:
        case.write_into(landing)
    write_conflict_files(landing, f"{FIRST_DAY}-conflicts.csv")
    redeliver(landing, dirty_landing, "resent")
    ingest(landing, warehouse, chunk_rows=DIRTY_CHUNKS)
    redeliver(landing, dirty_landing, "resent-later")
    ingest(landing, warehouse, chunk_rows=DIRTY_CHUNKS)
    return landing, warehouse


@dataclass(frozen=True)
class ManifestRow:
    file_path: str
    status: str
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int


def manifest(warehouse: Path) -> list[ManifestRow]:
    sql = "SELECT file_path, status, rows_in, rows_loaded, rows_rejected, rows_duplicate FROM raw.ingest_manifest"
    return [ManifestRow(*row) for row in query(warehouse, sql)]


def rows_per_file(warehouse: Path, schema: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for source in SOURCES:
        sql = f"SELECT _source_file, count(*) FROM {schema}.{source.name} GROUP BY ALL"
        counts.update(dict(query(warehouse, sql)))
    return counts


def expected_accounting(row: ManifestRow, path: Path, raw: int, quarantined: int) -> tuple[int, int, int, int]:
    """(rows_in, loaded, rejected, duplicate) from the file and the tables. A file rejected whole
    puts nothing in quarantine: all it accounts for is rejected. A skipped re-delivery loads
    nothing: all its records are duplicates."""
    if row.status == "rejected":
        lines = lines_after_the_first(path)
        return lines, 0, lines, 0
    records = data_records(path)
    if row.status == "skipped":
        return records, 0, 0, records
    return records, raw, quarantined, records - raw - quarantined


def test_every_file_has_one_manifest_row_with_a_known_status(hostile_load: tuple[Path, Path]) -> None:
    landing, warehouse = hostile_load
    files = sorted(landing_name(landing, p) for s in SOURCES for p in (landing / s.name).iterdir())
    rows = manifest(warehouse)
    assert sorted(r.file_path for r in rows) == files
    assert {r.status for r in rows} == {"loaded", "rejected", "skipped"}


def test_every_manifest_row_accounts_for_its_file_and_the_tables(hostile_load: tuple[Path, Path]) -> None:
    landing, warehouse = hostile_load
    paths = {landing_name(landing, p): p for s in SOURCES for p in (landing / s.name).iterdir()}
    raw, quarantined = rows_per_file(warehouse, "raw"), rows_per_file(warehouse, "quarantine")
    wrong = {}
    for row in manifest(warehouse):
        held = raw.get(row.file_path, 0), quarantined.get(row.file_path, 0)
        expected = expected_accounting(row, paths[row.file_path], *held)
        recorded = (row.rows_in, row.rows_loaded, row.rows_rejected, row.rows_duplicate)
        if recorded != expected or (row.status != "loaded" and held != (0, 0)):
            wrong[row.file_path] = f"{row.status}: recorded {recorded}, expected {expected}, tables hold {held}"
    assert not wrong, "\n".join(f"{path}: {problem}" for path, problem in sorted(wrong.items()))
    rows = manifest(warehouse)
    assert all(r.rows_in == r.rows_loaded + r.rows_rejected + r.rows_duplicate for r in rows)
    assert all(min(r.rows_loaded, r.rows_rejected, r.rows_duplicate) >= 0 for r in rows)
