"""Reading one landing file as text rows, in bounded chunks.

Problems that make a whole file unreadable as its source raise `FileRejected` with a reason a
person can act on. Problems of single records (wrong number of fields, a last line cut short)
come back as `MalformedRecord`s, so they can be quarantined while the rest of the file loads.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


def file_date(path: Path) -> pd.Timestamp:
    """The business date of a landing file, from the start of its name."""
    match = FILE_DATE.match(path.name)
    date = pd.to_datetime(match.group(1), format="%Y-%m-%d", errors="coerce") if match else pd.NaT
    if pd.isna(date):
        raise FileRejected(f"file name {path.name!r} does not start with a valid date (YYYY-MM-DD)")
    return date


def check_header(source: Source, header: list[str]) -> FileShape:
    names = [h.strip() for h in header]
    if len(names) == 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in names[0]:
                raise FileRejected(
                    f"wrong delimiter: the header is separated by {label} ({delimiter!r}), expected comma"
                )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise FileRejected(f"duplicate column name(s) in header: {', '.join(duplicated)}")
    missing = [c for c in source.column_names if c not in names]
    if missing:
        raise FileRejected(f"missing required column(s): {', '.join(missing)}")
    extra = tuple(n for n in names if n not in source.column_names)
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
        handle.seek(size - 1)
        ends_with_newline = handle.read(1) in (b"\n", b"\r")
    # Closed by the chunk generator when it finishes or is abandoned.
    stream = io.TextIOWrapper(open(path, "rb"), encoding="utf-8-sig", errors="strict", newline="")  # noqa: SIM115
    records = csv.reader(stream, strict=False)
    try:
        header = _next_record(records)
    except BaseException:
        stream.close()
        raise
    if header is None:
        stream.close()
        raise FileRejected("empty file (no header)")
    try:
        shape = check_header(source, header)
    except FileRejected:
        stream.close()
        raise
    return shape, _csv_chunks(source, shape, records, stream, ends_with_newline, chunk_rows)


def _next_record(records: Iterator[list[str]]) -> list[str] | None:
    try:
        for record in records:
            if record:
                return record
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not valid UTF-8 text (byte 0x{exc.object[exc.start]:02x}); re-export as UTF-8") from exc
    except csv.Error as exc:
        raise FileRejected(f"unparseable CSV: {exc}") from exc
    return None


def _csv_chunks(
    source: Source,
    shape: FileShape,
    records: Iterator[list[str]],
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
            record = _next_record(records)
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
    frame = pd.DataFrame(rows, columns=list(source.column_names), dtype=object)
    frame = frame.where(frame != "", None)
    frame.insert(0, "_row_number", pd.array(numbers, dtype="int64"))
    return frame


def _read_parquet(source: Source, path: Path, chunk_rows: int) -> tuple[FileShape, Iterator[TextChunk]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file: {exc}") from exc
    shape = check_header(source, parquet.schema_arrow.names)

    def chunks() -> Iterator[TextChunk]:
        offset = 0
        try:
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=list(source.column_names)):
                text = pa.Table.from_batches([batch]).cast(
                    pa.schema([(n, pa.string()) for n in source.column_names]), safe=False
                )
                text = pa.table({n: pc.if_else(pc.equal(text[n], ""), None, text[n]) for n in source.column_names})
                frame = text.to_pandas().astype(object).where(lambda f: f.notna(), None)
                frame.insert(0, "_row_number", pd.array(range(offset + 1, offset + len(frame) + 1), dtype="int64"))
                offset += len(frame)
                yield TextChunk(frame)
        finally:
            parquet.close()

    return shape, chunks()
