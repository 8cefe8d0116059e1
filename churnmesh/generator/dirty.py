"""Faults that real exports carry, injected at a chosen rate.

Row faults change single rows before the files are written; every one is logged with the file
and row it lands in, and with what ingestion must do with it:

| fault        | what it does                                   | expected outcome |
| ------------ | ---------------------------------------------- | ---------------- |
| null_key     | empties the key column                         | quarantined      |
| bad_number   | text such as `abc`, `12,5`, `1e309`, `NaN`     | quarantined      |
| bad_date     | `2024-02-30`, `31/12/2024`, `0000-00-00`       | quarantined      |
| out_of_range | credit score 200, CSAT 9, negative quantity... | quarantined      |
| future_time  | the event time moved 50 years past the file    | quarantined      |
| duplicate    | the same row twice in one file                 | duplicate        |
| replay       | the same row again in a later file             | duplicate        |
| orphan_key   | a customer_id no customer has                  | loaded           |
| late         | the row arrives in a file 1-10 days later      | loaded           |

File faults rewrite whole CSV files after they are written (see `inject_file_faults`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnmesh.contracts import SOURCES_BY_NAME

ROW_FAULTS = (
    "null_key",
    "bad_number",
    "bad_date",
    "out_of_range",
    "future_time",
    "duplicate",
    "replay",
    "orphan_key",
    "late",
)
EXPECTED_OUTCOME = {
    "null_key": "quarantined",
    "bad_number": "quarantined",
    "bad_date": "quarantined",
    "out_of_range": "quarantined",
    "future_time": "quarantined",
    "duplicate": "duplicate",
    "replay": "duplicate",
    "orphan_key": "loaded",
    "late": "loaded",
}
# Late rows only where the key carries the event date, so a late row cannot meet a newer version
# of itself in the later file (that is a genuine conflict, and ingestion quarantines both).
LATE_SOURCES = {"orders", "device_sessions", "loyalty_balances", "financial_profiles"}
BAD_NUMBERS = ("abc", "12,5", "N/A", "1e309", "NaN", "--", "١٢٣")
BAD_DATES = ("2024-02-30", "31/12/2024", "0000-00-00", "yesterday", "2024-13-01")
OUT_OF_RANGE = {
    "customers": ("country", "XX"),
    "financial_profiles": ("credit_score", "200"),
    "orders": ("quantity", "-3"),
    "loyalty_balances": ("points_balance", "-150"),
    "subscriptions": ("status", "expired"),
    "support_tickets": ("csat_score", "9"),
    "device_sessions": ("pages_viewed", "-1"),
}
EVENT_TIME = {
    "customers": "signup_datetime",
    "financial_profiles": "profile_effective_date",
    "orders": "order_datetime",
    "loyalty_balances": "snapshot_date",
    "subscriptions": "start_date",
    "support_tickets": "opened_datetime",
    "device_sessions": "session_start_ts",
}
FILE_FAULTS = ("missing_column", "extra_column", "wrong_delimiter", "bom", "latin1", "empty", "truncated")
FILE_FAULT_OUTCOME = {
    "missing_column": "rejected",
    "extra_column": "loaded",
    "wrong_delimiter": "rejected",
    "bom": "loaded",
    "latin1": "rejected",
    "empty": "rejected",
    "truncated": "loaded",
}


def inject_row_faults(
    source: str, rows: pd.DataFrame, file_day: np.ndarray, days: int, rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return the rows with faults applied, their file days, and each row's fault ('' if none)."""
    n = len(rows)
    fault = np.full(n, "", dtype=object)
    hit = np.flatnonzero(rng.random(n) < rate)
    if hit.size == 0:
        return rows, file_day, fault
    kinds = np.array(ROW_FAULTS, dtype=object)[rng.integers(0, len(ROW_FAULTS), hit.size)]
    spec = SOURCES_BY_NAME[source]
    numeric = [c.name for c in spec.columns if c.kind in ("int", "float")]
    dates = [c.name for c in spec.columns if c.kind in ("date", "datetime")]
    file_day = file_day.copy()
    extra_rows, extra_days, extra_faults = [], [], []
    for row, drawn in zip(hit, kinds, strict=True):
        kind = _applicable(drawn, source, bool(numeric), int(file_day[row]) + 10 < days)
        _apply(kind, source, rows, int(row), numeric, dates, rng)
        if kind in ("duplicate", "replay"):
            lag = 0 if kind == "duplicate" else int(rng.integers(1, 11))
            if file_day[row] + lag >= days:
                continue
            extra_rows.append(row)
            extra_days.append(file_day[row] + lag)
            extra_faults.append(kind)
        elif kind == "late":
            file_day[row] += int(rng.integers(1, 11))
            fault[row] = kind
        else:
            fault[row] = kind
    if extra_rows:
        rows = pd.concat([rows, rows.iloc[extra_rows]], ignore_index=True)
        file_day = np.concatenate([file_day, np.array(extra_days, dtype=np.int64)])
        fault = np.concatenate([fault, np.array(extra_faults, dtype=object)])
    return rows, file_day, fault


def _applicable(kind: str, source: str, has_numbers: bool, room_to_be_late: bool) -> str:
    """The drawn fault, or a stand-in where it cannot apply to this source or row."""
    if kind == "orphan_key" and source == "customers":
        return "duplicate"
    if kind == "bad_number" and not has_numbers:
        return "bad_date"
    if kind == "late" and (source not in LATE_SOURCES or not room_to_be_late):
        return "replay"
    return kind


def _apply(
    kind: str, source: str, rows: pd.DataFrame, row: int, numeric: list[str], dates: list[str], rng: np.random.Generator
) -> None:
    """Change one cell for a cell fault; row-level faults (copies, lateness) change nothing here."""
    spec = SOURCES_BY_NAME[source]
    col = rows.columns.get_loc
    if kind == "null_key":
        rows.iat[row, col(spec.key[0])] = None
    elif kind == "bad_number":
        rows.iat[row, col(numeric[int(rng.integers(0, len(numeric)))])] = BAD_NUMBERS[
            int(rng.integers(0, len(BAD_NUMBERS)))
        ]
    elif kind == "bad_date":
        required = [c for c in dates if c in spec.required_columns]
        rows.iat[row, col(required[int(rng.integers(0, len(required)))])] = BAD_DATES[
            int(rng.integers(0, len(BAD_DATES)))
        ]
    elif kind == "out_of_range":
        column, value = OUT_OF_RANGE[source]
        if source == "orders" and rows.iat[row, col("order_type")] == "refund":
            value = "3"  # a refund's quantity is negative; a positive one is out of range
        rows.iat[row, col(column)] = value
    elif kind == "future_time":
        column = EVENT_TIME[source]
        original = str(rows.iat[row, col(column)])
        rows.iat[row, col(column)] = str(int(original[:4]) + 50) + original[4:]
    elif kind == "orphan_key":
        rows.iat[row, col("customer_id")] = "C99" + str(int(rng.integers(0, 100_000))).zfill(5)


@dataclass(frozen=True)
class FileFault:
    path: Path
    kind: str
    detail: str


def inject_file_faults(files: list[Path], rate: float, rng: np.random.Generator) -> list[FileFault]:
    """Rewrite a share of the (non-empty) CSV files with a whole-file fault."""
    faults = []
    for path in files:
        if rng.random() >= rate:
            continue
        kind = FILE_FAULTS[int(rng.integers(0, len(FILE_FAULTS)))]
        data = path.read_bytes()
        if kind == "latin1" and _still_utf8(data.decode("utf-8").encode("latin-1", errors="replace")):
            kind = "bom"  # nothing in the file that Latin-1 would write differently
        rewritten, detail = _rewrite(kind, data, rng)
        path.write_bytes(rewritten)
        faults.append(FileFault(path, kind, detail))
    return faults


def _still_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _rewrite(kind: str, data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    text = data.decode("utf-8")
    if kind == "empty":
        return b"", "zero bytes"
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, "UTF-8 byte order mark"
    if kind == "latin1":
        return text.encode("latin-1", errors="replace"), "encoded as Latin-1"
    if kind == "truncated":
        body = data.rstrip(b"\n")
        last_line = body.rfind(b"\n") + 1
        cut = last_line + max(1, int(rng.integers(1, max(2, len(body) - last_line))))
        return body[:cut], "last line cut short, no line terminator"
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, body_rows = records[0], records[1:]
    out = io.StringIO(newline="")
    if kind == "missing_column":
        drop = int(rng.integers(0, len(header)))
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([r[:drop] + r[drop + 1 :] for r in records])
        return out.getvalue().encode(), f"column {header[drop]!r} missing"
    if kind == "extra_column":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*header, "export_batch"])
        writer.writerows([[*r, "b7"] for r in body_rows])
        return out.getvalue().encode(), "extra column 'export_batch'"
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerows(records)
    return out.getvalue().encode(), "semicolon delimiter"
