"""Text rows -> typed rows, checked against the source's contract.

Parsing is strict: a number is ASCII digits in plain or scientific notation and finite; a date is
YYYY-MM-DD and exists in the calendar; a timestamp is ISO 8601; text holds no NUL character. A cell
that is not empty but does not parse is a rejection with its own reason, never a silent null. Rows
that parse are then validated by the pandera contract; every failed check becomes part of the
row's reason.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from churnmesh.contracts import Column, Source

INTEGER = r"[+-]?[0-9]+"
DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?"
TRUE_WORDS = {"true": True, "false": False, "1": True, "0": False}
SHOWN_VALUE_CHARS = 40


@dataclass
class ValidatedChunk:
    valid: pd.DataFrame  # typed contract columns + _row_number
    rejected: pd.DataFrame  # text contract columns + _row_number + _reject_reason


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "...")


def _parse_column(column: Column, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return the typed column and a boolean mask of cells that were present but did not parse."""
    present = text.notna()
    as_str = text.astype("string")
    if column.kind == "str":
        # Any text is accepted except NUL, which C-string tools, exports and other engines cut at.
        has_nul = as_str.str.contains("\x00", regex=False).fillna(False).astype(bool)
        return as_str, has_nul
    if column.kind == "int":
        ok = as_str.str.fullmatch(INTEGER).fillna(False).astype(bool)
        values = pd.to_numeric(text.where(ok), errors="coerce")
        ok &= values.abs() < 2**62
        return values.where(ok).astype("Int64"), present & ~ok
    if column.kind == "float":
        ok = as_str.str.fullmatch(DECIMAL).fillna(False).astype(bool)
        values = pd.to_numeric(text.where(ok), errors="coerce").astype(float)
        ok &= np.isfinite(values)
        return values.where(ok), present & ~ok
    if column.kind == "bool":
        mapped = as_str.str.strip().str.lower().map(TRUE_WORDS)
        return mapped.astype("boolean"), present & mapped.isna()
    pattern, fmt = (DATE, "%Y-%m-%d") if column.kind == "date" else (TIMESTAMP, "ISO8601")
    ok = as_str.str.fullmatch(pattern).fillna(False).astype(bool)
    values = pd.to_datetime(text.where(ok), format=fmt, errors="coerce")
    return values, present & values.isna()


PARSE_FAILURES = {
    "str": "contains a NUL (0x00) character",
    "int": "is not an integer",
    "float": "is not a finite number",
    "bool": "is not true or false",
    "date": "is not a valid date (YYYY-MM-DD)",
    "datetime": "is not a valid timestamp (ISO 8601)",
}


def _describe_check(column: str | None, check: str, failure: object) -> str:
    if check == "not_nullable":
        return f"{column}: required value is empty"
    if check.startswith("isin"):
        return f"{column}: {_show(failure)} is not an accepted value"
    if check.startswith("str_matches"):
        return f"{column}: {_show(failure)} does not match the required format"
    if check.startswith("str_length"):
        return f"{column}: length of {_show(failure)} is out of range"
    if check.startswith("greater_than_or_equal_to"):
        return f"{column}: {_show(failure)} is below the minimum {check[25:-1]}"
    if check.startswith("less_than_or_equal_to"):
        return f"{column}: {_show(failure)} is above the maximum {check[22:-1]}"
    return f"{column or 'row'}: failed {check}"


class ContractValidator:
    def __init__(self, source: Source) -> None:
        self.source = source
        schema = copy.deepcopy(source.contract.to_schema())
        # Key uniqueness spans the whole file; the loader checks it in SQL once all chunks are in.
        schema.unique = None
        self.schema = schema
        # Row-level checks report one failure per column; their message is the reason.
        self.row_checks = {str(check.error) for check in schema.checks}

    def validate(self, rows: pd.DataFrame) -> ValidatedChunk:
        """Validate text rows. Lineage columns (named with a leading underscore) pass through;
        `_file_date` is the business date of the file each row came from, so rows of several
        files can be validated together."""
        typed = rows[[c for c in rows.columns if c.startswith("_")]].copy()
        reasons: dict[int, list[str]] = {}
        for column in self.source.columns:
            values, failed = _parse_column(column, rows[column.name])
            typed[column.name] = values
            for index, raw in rows.loc[failed, column.name].items():
                reasons.setdefault(index, []).append(f"{column.name}: {_show(raw)} {PARSE_FAILURES[column.kind]}")
        parsed = typed.drop(index=list(reasons))
        if len(parsed):
            self._contract_failures(parsed, reasons)
        bad = rows.index.isin(list(reasons))
        rejected = rows[bad].copy()
        rejected["_reject_reason"] = ["; ".join(reasons[i]) for i in rejected.index]
        valid = typed[~bad].drop(columns=["_file_date"])
        valid = valid.astype({c.name: "object" for c in self.source.columns if c.kind == "str"})
        return ValidatedChunk(valid=valid, rejected=rejected)

    def _contract_failures(self, typed: pd.DataFrame, reasons: dict[int, list[str]]) -> None:
        try:
            with warnings.catch_warnings():
                # pandera's own failure report concatenates empty frames; not ours to fix.
                warnings.simplefilter("ignore", FutureWarning)
                self.schema.validate(typed, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            found: dict[int, set[str]] = {}
            for column, check, failure, index in cases[["column", "check", "failure_case", "index"]].itertuples(
                index=False
            ):
                if index is None or pd.isna(index):
                    raise RuntimeError(f"contract check {check!r} on {column!r} could not run: {failure}") from exc
                check = str(check)
                message = check if check in self.row_checks else _describe_check(column, check, failure)
                found.setdefault(int(index), set()).add(message)
            # pandera's order of failures depends on how rows were chunked; a row's reason must not.
            for index, messages in found.items():
                reasons.setdefault(index, []).extend(sorted(messages))
