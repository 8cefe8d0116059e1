"""Reading one landing file as text rows, in bounded chunks.

Problems that make a whole file unreadable as its source raise `FileRejected` with a reason a
person can act on. Problems of single records (wrong number of fields, a last line cut short)
come back as `MalformedRecord`s, so they can be quarantined while the rest of the file loads.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnmesh.contracts import Source

CHUNK_ROWS = 50_000
# A single field may be large, but a 50 MB cell is not a customer record.
MAX_FIELD_BYTES = 1_000_000
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
FILE_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")
# Formats that arrive under a .csv name, told by their first bytes (longest signature first).
NOT_CSV_TEXT = (
    (b"\xff\xfe\x00\x00", "UTF-32 text (little-endian byte-order mark); re-export as UTF-8"),
    (b"\x00\x00\xfe\xff", "UTF-32 text (big-endian byte-order mark); re-export as UTF-8"),
    (b"\xff\xfe", "UTF-16 text (little-endian byte-order mark); re-export as UTF-8"),
    (b"\xfe\xff", "UTF-16 text (big-endian byte-order mark); re-export as UTF-8"),
    (b"\x1f\x8b", "gzip-compressed data, not CSV text; decompress it before delivery"),
    (b"PK\x03\x04", "a ZIP archive (or a spreadsheet), not CSV text; deliver the CSV export itself"),
    (b"PAR1", "Parquet data in a file named .csv; name it .parquet"),
)
NAMES_SHOWN = 10
NAME_CHARS_SHOWN = 60

csv.field_size_limit(MAX_FIELD_BYTES)


class FileRejected(Exception):
    """The file cannot be read as its source; nothing of it is loaded."""


@dataclass(frozen=True)
class MalformedRecord:
    row_number: int
    raw_line: str
    reason: str


@dataclass
class TextChunk:
    """Rows of one file as text (None for an empty cell), numbered from 1 after the header."""

    rows: pd.DataFrame
    malformed: list[MalformedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class FileShape:
    columns: tuple[str, ...]
    extra_columns: tuple[str, ...]


def landing_name(landing: Path, path: Path) -> str:
    """A landing file's identity: its path under the landing folder. Bytes of a name that are not
    UTF-8 are written as \\x escapes: the raw name cannot be stored or reported as text."""
    rel = path.relative_to(landing).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_file_name(path: Path) -> None:
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FileRejected("the file name is not valid UTF-8 (recorded with \\x escapes); rename the file") from exc


def file_date(path: Path) -> pd.Timestamp:
    """The business date of a landing file, from the start of its name."""
    match = FILE_DATE.match(path.name)
    try:
        # The pattern admits only YYYY-MM-DD; fromisoformat then rejects days not in the calendar.
        return pd.Timestamp(date.fromisoformat(match.group(1))) if match else _no_date(path)
    except ValueError:
        return _no_date(path)


def _no_date(path: Path) -> pd.Timestamp:
    raise FileRejected(f"file name {path.name!r} does not start with a valid date (YYYY-MM-DD)")


def describe_names(names: Iterable[str]) -> str:
    """A list of column names for a message: the first few, each cut short if long, and how
    many there are in all."""
    names = list(names)
    shown = ", ".join(n if len(n) <= NAME_CHARS_SHOWN else f"{n[:NAME_CHARS_SHOWN]}..." for n in names[:NAMES_SHOWN])
    return shown if len(names) <= NAMES_SHOWN else f"{shown}, ... ({len(names):,} in all)"


def check_header(source: Source, header: list[str]) -> FileShape:
    names = [h.strip() for h in header]
    if not any(names):
        raise FileRejected("the header line is blank (no column names)")
    if any("\x00" in n for n in names):
        raise FileRejected(
            "NUL (0x00) bytes in the header: UTF-16 text without a byte-order mark, or binary or zero-filled "
            "data; re-export as UTF-8 CSV"
        )
    if len(names) == 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in names[0]:
                raise FileRejected(
                    f"wrong delimiter: the header is separated by {label} ({delimiter!r}), expected comma"
                )
    # Unnamed columns (a trailing delimiter) are extra columns, not duplicates of each other.
    counts = Counter(n for n in names if n)
    duplicated = sorted(n for n, count in counts.items() if count > 1)
    if duplicated:
        raise FileRejected(f"duplicate column name(s) in header: {describe_names(duplicated)}")
    extra = tuple(
        name or f"(unnamed column {position})"
        for position, name in enumerate(names, 1)
        if name not in source.column_names
    )
    missing = [c for c in source.column_names if c not in counts]
    if missing:
        unknown = f"; the header has instead: {describe_names(repr(n) for n in extra)}" if extra else ""
        raise FileRejected(f"missing required column(s): {describe_names(missing)}{unknown}")
    return FileShape(tuple(names), extra)


def read_chunks(source: Source, path: Path, chunk_rows: int = CHUNK_ROWS) -> tuple[FileShape, Iterator[TextChunk]]:
    if path.suffix.lower() == ".parquet":
        return _read_parquet(source, path, chunk_rows)
    return _read_csv(source, path, chunk_rows)


def _read_csv(source: Source, path: Path, chunk_rows: int) -> tuple[FileShape, Iterator[TextChunk]]:
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("empty file (0 bytes)")
    with open(path, "rb") as handle:
        start = handle.read(4)
        handle.seek(size - 1)
        ends_with_newline = handle.read(1) in (b"\n", b"\r")
    for signature, what in NOT_CSV_TEXT:
        if start.startswith(signature):
            raise FileRejected(what)
    # Closed by the chunk generator when it finishes or is abandoned.
    stream = io.TextIOWrapper(open(path, "rb"), encoding="utf-8-sig", errors="strict", newline="")  # noqa: SIM115
    records = _Records(stream, ends_with_newline)
    try:
        header = records.next()
        if header is None:
            raise FileRejected("empty file (no header)")
        shape = check_header(source, header)
    except BaseException:
        stream.close()
        raise
    return shape, _csv_chunks(source, shape, records, stream, ends_with_newline, chunk_rows)


class _Records:
    """The non-blank CSV records of a text stream, with the line each one starts on.

    The csv module, lenient, ends a quoted field that never closes at the end of the file and
    returns everything after the quote as one value. Such a record is recognised by the input
    running out while it was being read; unless it is a truncated last line (which the caller
    quarantines), the file cannot be split into records and is rejected."""

    def __init__(self, stream: io.TextIOWrapper, ends_with_newline: bool) -> None:
        self.exhausted = False
        self.ends_with_newline = ends_with_newline
        self.reader = csv.reader(self._lines(stream), strict=False)
        self.start_line = 0

    def _lines(self, stream: io.TextIOWrapper) -> Iterator[str]:
        yield from stream
        self.exhausted = True

    def next(self) -> list[str] | None:
        try:
            while True:
                self.start_line = self.reader.line_num + 1
                record = next(self.reader, None)
                if record is None:
                    return None
                if record:
                    self._check_quote_closed()
                    return record
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"not valid UTF-8 text (byte 0x{exc.object[exc.start]:02x}); re-export as UTF-8"
            ) from exc
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise FileRejected(
                    f"a value longer than {MAX_FIELD_BYTES:,} characters in the record starting on line "
                    f"{self.start_line}: not a landing record, or a quote that never closes"
                ) from exc
            raise FileRejected(f"unparseable CSV on line {self.reader.line_num}: {exc}") from exc

    def _check_quote_closed(self) -> None:
        if not self.exhausted:
            return
        last_line_cut_short = self.start_line == self.reader.line_num and not self.ends_with_newline
        if not last_line_cut_short:
            raise FileRejected(
                f"a quote opened in the record starting on line {self.start_line} never closes: "
                f"the {self.reader.line_num - self.start_line + 1:,} line(s) from there to the end of the "
                "file cannot be split into records"
            )


def _csv_chunks(
    source: Source,
    shape: FileShape,
    records: _Records,
    stream: io.TextIOWrapper,
    ends_with_newline: bool,
    chunk_rows: int,
) -> Iterator[TextChunk]:
    width = len(shape.columns)
    wanted = [shape.columns.index(c) for c in source.column_names]
    try:
        row_number = 0
        pending: list[str] | None = None
        good: list[list[str]] = []
        numbers: list[int] = []
        malformed: list[MalformedRecord] = []
        while True:
            record = records.next()
            if pending is not None:
                row_number += 1
                truncated = record is None and not ends_with_newline
                if truncated or len(pending) != width:
                    reason = (
                        "last line has no line terminator: the file may be truncated"
                        if truncated
                        else f"row has {len(pending)} fields, header has {width}"
                    )
                    malformed.append(MalformedRecord(row_number, ",".join(pending), reason))
                else:
                    good.append([pending[i] for i in wanted])
                    numbers.append(row_number)
            if record is None or len(good) >= chunk_rows:
                yield TextChunk(_frame(source, good, numbers), malformed)
                good, numbers, malformed = [], [], []
            if record is None:
                return
            pending = record
    finally:
        stream.close()


def _frame(source: Source, rows: list[list[str]], numbers: list[int]) -> pd.DataFrame:
    """Built column by column: most landing files are small, and pandas' per-frame overhead
    (where, insert) would cost more than the rows."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(source.column_names)
    data: dict[str, object] = {"_row_number": np.array(numbers, dtype="int64")}
    for name, values in zip(source.column_names, columns, strict=True):
        data[name] = np.array([v if v != "" else None for v in values], dtype=object)
    return pd.DataFrame(data)


def _read_parquet(source: Source, path: Path, chunk_rows: int) -> tuple[FileShape, Iterator[TextChunk]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file: {_one_line(exc)}") from exc
    try:
        shape = check_header(source, parquet.schema_arrow.names)
        _check_scalar_columns(source, parquet.schema_arrow)
    except BaseException:
        parquet.close()
        raise
    return shape, _parquet_chunks(source, parquet, chunk_rows)


def _check_scalar_columns(source: Source, schema: pa.Schema) -> None:
    """A contract column holds one value per row; a list, struct or map has no text to check."""
    nested = [f"{n} ({schema.field(n).type})" for n in source.column_names if pa.types.is_nested(schema.field(n).type)]
    if nested:
        raise FileRejected(f"column(s) with nested values instead of one value per row: {describe_names(nested)}")


def _parquet_chunks(source: Source, parquet: pq.ParquetFile, chunk_rows: int) -> Iterator[TextChunk]:
    """Text chunks of a Parquet file; data that cannot be decoded (a damaged page) rejects the file."""
    offset = 0
    try:
        batches = parquet.iter_batches(batch_size=chunk_rows, columns=list(source.column_names))
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                frame = _parquet_text(source, batch, offset)
            except (pa.ArrowException, OSError) as exc:
                raise FileRejected(f"unreadable Parquet data after row {offset:,}: {_one_line(exc)}") from exc
            offset += len(frame)
            yield TextChunk(frame)
    finally:
        parquet.close()


def _parquet_text(source: Source, batch: pa.RecordBatch, offset: int) -> pd.DataFrame:
    columns = {}
    for name in source.column_names:
        try:
            # A safe cast: binary values must be valid UTF-8 to become text.
            text = batch.column(name).cast(pa.string())
        except pa.ArrowInvalid as exc:
            raise FileRejected(
                f"column {name!r} cannot be read as text ({_one_line(exc)}); re-export it as UTF-8"
            ) from exc
        columns[name] = pc.if_else(pc.equal(text, ""), None, text)
    frame = pa.table(columns).to_pandas().astype(object).where(lambda f: f.notna(), None)
    frame.insert(0, "_row_number", pd.array(range(offset + 1, offset + len(frame) + 1), dtype="int64"))
    return frame


def _one_line(exc: BaseException) -> str:
    """Arrow's messages span lines; a reason in the manifest and the log reads better on one."""
    return " ".join(str(exc).split())
