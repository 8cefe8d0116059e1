"""Loading landing files into raw.<source>.

For each file: valid rows go to raw.<source>; rejected rows go verbatim to quarantine.<source>
with their reason; rows identical to one already loaded (earlier in the file, in an earlier file,
or in an earlier run) are counted as duplicates; and raw.ingest_manifest gets one row with the
accounting rows_in = rows_loaded + rows_rejected + rows_duplicate.

Files of one source are loaded in batches (many small daily files validate faster together). A
batch's rows and its manifest rows are written in one transaction, so a crash leaves each file
either fully loaded and recorded, or absent; a rerun loads exactly the files that are missing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from churnmesh import data_quality
from churnmesh.contracts import SOURCES, SOURCES_BY_NAME, Source
from churnmesh.faults import crash_point
from churnmesh.ingestion.reader import (
    CHUNK_ROWS,
    FileRejected,
    MalformedRecord,
    check_file_name,
    describe_names,
    file_date,
    landing_name,
    read_chunks,
)
from churnmesh.ingestion.tables import DUCKDB_TYPES, ensure_tables, quarantine_table, raw_table
from churnmesh.ingestion.validate import ContractValidator
from churnmesh.query import quoted

log = logging.getLogger("churnmesh.ingest")
LANDING_SUFFIXES = {".csv", ".parquet"}
BATCH_BYTES = 32 * 1024 * 1024
MANIFEST_COLUMNS = {
    "file_path": "VARCHAR",
    "source": "VARCHAR",
    "file_date": "DATE",
    "checksum": "VARCHAR",
    "size_bytes": "BIGINT",
    "rows_in": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_rejected": "BIGINT",
    "rows_duplicate": "BIGINT",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "extra_columns": "VARCHAR",
    "ingested_at": "TIMESTAMP",
    "file_stamp": "VARCHAR",
}
# A file written this recently when it was looked at may still be changing within the file
# system's timestamp resolution; no stamp is kept for it, so the next run hashes it again.
SETTLED_NS = 2_000_000_000


@dataclass(frozen=True)
class FileOutcome:
    file_path: str
    source: str
    status: str  # loaded | rejected | skipped (written to the manifest) | unchanged | refused
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    reason: str | None = None
    extra_columns: tuple[str, ...] = ()


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def total(self, attribute: str) -> int:
        return sum(getattr(o, attribute) for o in self.outcomes if o.status in ("loaded", "rejected", "skipped"))

    @property
    def refused(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "refused"]


@dataclass
class LandingFile:
    source: Source
    path: Path
    rel: str  # path relative to the landing folder: the file's identity
    checksum: str
    size_bytes: int
    file_stamp: str | None  # FileStamp.text when the file was hashed
    replacing: bool = False
    was_rejected: bool = False  # replaces the record of a version rejected whole (no rows to swap)
    rows_in: int = 0
    extra_columns: tuple[str, ...] = ()
    outcome: FileOutcome | None = None
    copy_of: LandingFile | None = None  # an earlier file of the same batch with the same bytes


def landing_files(landing: Path) -> list[tuple[Source, Path]]:
    """Files under landing/<source>/, by source in dependency order, then by name (date first)."""
    order = {s.name: i for i, s in enumerate(SOURCES)}
    found = [
        (order[path.parent.name], path.name, path)
        for path in landing.glob("*/*")
        if path.parent.name in SOURCES_BY_NAME and path.is_file() and path.suffix.lower() in LANDING_SUFFIXES
    ]
    return [(SOURCES_BY_NAME[path.parent.name], path) for *_, path in sorted(found)]


@dataclass(frozen=True)
class FileStamp:
    """What the file system tells of a file without reading it. Programs can set a file's
    modification time (cp -p, rsync -a, touch -r), not its change time, which every write moves;
    the inode and device tell a file from another put in its place."""

    size_bytes: int
    text: str | None  # size:mtime:ctime:inode:device; None while the file may still be changing

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        stat = path.stat()
        settled = time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) >= SETTLED_NS
        parts = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)
        return cls(stat.st_size, ":".join(map(str, parts)) if settled else None)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest(
    landing: Path,
    warehouse: Path,
    *,
    replace: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    batch_bytes: int = BATCH_BYTES,
) -> IngestReport:
    """Load every new landing file. Safe to rerun: files already loaded are left alone."""
    landing = Path(landing)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    report = IngestReport()
    con = duckdb.connect(str(warehouse))
    try:
        ensure_tables(con)
        loader = BatchLoader(con, datetime.now(UTC).replace(tzinfo=None), chunk_rows)
        restamps: dict[str, str] = {}
        for batch in _plan(con, landing, replace, batch_bytes, report, restamps):
            for outcome in loader.load(batch):
                report.outcomes.append(outcome)
                if outcome.status in ("rejected", "refused"):
                    log.warning("%s %s: %s", outcome.status, outcome.file_path, outcome.reason)
        _restamp(con, restamps)
        # After the batches, not inside them: profiling is idempotent, so a run killed before it
        # leaves files the next run profiles from the same rows.
        data_quality.refresh_profiles(con)
    finally:
        con.close()
    return report


def _plan(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    replace: bool,
    batch_bytes: int,
    report: IngestReport,
    restamps: dict[str, str],
) -> Iterator[list[LandingFile]]:
    """Decide per file (unchanged, refused, to load) and group the files to load into batches.
    A loaded file whose FileStamp is the one recorded is unchanged without being read: hashing
    the whole landing history every day would cost more than loading the new day. A file found
    unchanged by its checksum under a new stamp (copied, touched) gets the new stamp recorded."""
    query = "SELECT file_path, checksum, file_stamp, status FROM raw.ingest_manifest"
    manifest = con.execute(query).fetchall()
    loaded = {rel: (checksum, stamp) for rel, checksum, stamp, _ in manifest}
    # A file rejected whole loaded nothing: a new version under its name is a first delivery.
    rejected = {rel for rel, *_, status in manifest if status == "rejected"}
    batch: list[LandingFile] = []
    size = 0
    for source, path in landing_files(landing):
        rel = landing_name(landing, path)
        stamp = FileStamp.of(path)  # taken before hashing: a change while hashing shows next time
        known_checksum, known_stamp = loaded.get(rel, (None, None))
        if known_stamp is not None and known_stamp == stamp.text and not replace:  # --replace reads all
            report.outcomes.append(FileOutcome(rel, source.name, "unchanged"))
            continue
        checksum = sha256(path)
        if known_checksum == checksum:
            if stamp.text is not None:
                restamps[rel] = stamp.text
            report.outcomes.append(FileOutcome(rel, source.name, "unchanged"))
            continue
        if rel in loaded and rel not in rejected and not replace:
            outcome = FileOutcome(
                rel,
                source.name,
                "refused",
                reason=(
                    "already loaded with different content (checksum changed); "
                    "rerun with --replace to load the new version in place of the old"
                ),
            )
            report.outcomes.append(outcome)
            log.warning("refused %s: %s", rel, outcome.reason)
            continue
        if batch and (batch[0].source != source or size >= batch_bytes):
            yield batch
            batch, size = [], 0
        file = LandingFile(source, path, rel, checksum, stamp.size_bytes, stamp.text, replacing=rel in loaded)
        file.was_rejected = rel in rejected
        original = next((f for f in batch if f.checksum == checksum), None)
        if original is not None and (file.replacing or original.replacing):
            # A replacement is compared with what is loaded, so its copy waits for the next batch.
            yield batch
            batch, size, original = [], 0, None
        # A copy of a file in this batch is not read: its outcome follows the original's.
        file.copy_of = original
        batch.append(file)
        size += stamp.size_bytes
    if batch:
        yield batch


def _restamp(con: duckdb.DuckDBPyConnection, restamps: dict[str, str]) -> None:
    """Record the new stamps of files found unchanged by their checksum."""
    if not restamps:
        return
    frame = pd.DataFrame({"file_path": list(restamps), "file_stamp": list(restamps.values())})
    con.register("_restamps", frame)
    try:
        con.execute(
            "UPDATE raw.ingest_manifest AS m SET file_stamp = r.file_stamp "
            "FROM _restamps AS r WHERE m.file_path = r.file_path"
        )
    finally:
        con.unregister("_restamps")


class BatchLoader:
    def __init__(self, con: duckdb.DuckDBPyConnection, ingested_at: datetime, chunk_rows: int) -> None:
        self.con, self.ingested_at, self.chunk_rows = con, ingested_at, chunk_rows
        self.validators = {s.name: ContractValidator(s) for s in SOURCES}
        self._manifest: list[tuple[object, ...]] = []
        self._pending_rows = 0

    def load(self, files: list[LandingFile]) -> list[FileOutcome]:
        source = files[0].source
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._create_staging(source)
            self._mark_twins(files)
            pending: list[pd.DataFrame] = []
            self._pending_rows = 0  # rows in `pending`: a running count, as batches hold thousands of files
            for file in files:
                if file.outcome is None and file.copy_of is None:
                    pending = self._read_file(file, pending)
            self._validate(source, pending)
            for file in files:
                if file.replacing and (file.outcome is None or file.was_rejected):
                    self._forget(source, file.rel)
            for file in files:
                if file.outcome is not None and file.outcome.status in ("rejected", "skipped"):
                    self._record(file)
            self._publish(source, [f for f in files if f.outcome is None and f.copy_of is None])
            for file in files:
                if file.copy_of is not None:
                    file.outcome = _copy_outcome(file, file.copy_of)
                    self._record(file)
            self._write_manifest()
            self.con.execute("COMMIT")
            crash_point("ingest.after_commit")
        except BaseException:
            self.con.execute("ROLLBACK")
            self._manifest = []
            raise
        finally:
            self.con.execute("DROP TABLE IF EXISTS _incoming")
            self.con.execute("DROP TABLE IF EXISTS _rejects")
        return [f.outcome for f in files if f.outcome is not None]

    def _mark_twins(self, files: list[LandingFile]) -> None:
        """A file with the same bytes as one already loaded under another name is a re-delivery:
        skipped, all its rows counted as duplicates."""
        query = "SELECT checksum, file_path, rows_in FROM raw.ingest_manifest WHERE status = 'loaded' AND rows_in > 0"
        seen = {checksum: (path, rows) for checksum, path, rows in self.con.execute(query).fetchall()}
        for file in files:
            if file.copy_of is not None:
                continue
            twin, rows_in = seen.get(file.checksum, (None, 0))
            if twin and twin != file.rel:
                file.outcome = FileOutcome(
                    file.rel, file.source.name, "skipped", rows_in, 0, 0, rows_in, f"same content as {twin}"
                )

    def _read_file(self, file: LandingFile, pending: list[pd.DataFrame]) -> list[pd.DataFrame]:
        """Stage the file's rows; on a whole-file fault, take back what was staged of it."""
        try:
            check_file_name(file.path)
            date = file_date(file.path)
            shape, chunks = read_chunks(file.source, file.path, self.chunk_rows)
            for chunk in chunks:
                file.rows_in += len(chunk.rows) + len(chunk.malformed)
                self._stage_malformed(file, chunk.malformed)
                pending.append(chunk.rows.assign(_file_date=date, _source_file=file.rel))
                self._pending_rows += len(chunk.rows)
                if self._pending_rows >= self.chunk_rows:
                    self._validate(file.source, pending)
                    pending, self._pending_rows = [], 0
                crash_point("ingest.after_chunk")
        except FileRejected as rejected:
            pending = [p[p["_source_file"] != file.rel] for p in pending]
            self._pending_rows = sum(len(p) for p in pending)
            for table in ("_incoming", "_rejects"):
                self.con.execute(f"DELETE FROM {table} WHERE _source_file = ?", [file.rel])
            file.outcome = self._rejection(file, str(rejected))
            return pending
        file.extra_columns = shape.extra_columns
        return pending

    def _rejection(self, file: LandingFile, reason: str) -> FileOutcome:
        if file.replacing and not file.was_rejected:
            return FileOutcome(
                file.rel,
                file.source.name,
                "refused",
                reason=f"replacement rejected, the loaded version is kept: {reason}",
            )
        rows = _count_data_lines(file.path)
        return FileOutcome(file.rel, file.source.name, "rejected", rows, 0, rows, 0, reason)

    def _create_staging(self, source: Source) -> None:
        typed = [f"{quoted(c.name)} {DUCKDB_TYPES[c.kind]}" for c in source.columns]
        text = [f"{quoted(f'_t_{name}')} VARCHAR" for name in source.column_names]
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _incoming ({', '.join([*typed, *text])}, "
            "_row_number BIGINT, _source_file VARCHAR, _row_hash VARCHAR)"
        )
        plain = [f"{quoted(name)} VARCHAR" for name in source.column_names]
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _rejects ({', '.join(plain)}, _source_file VARCHAR, "
            "_row_number BIGINT, _raw_line VARCHAR, _reject_reason VARCHAR)"
        )

    def _validate(self, source: Source, pending: list[pd.DataFrame]) -> None:
        rows = pd.concat(pending, ignore_index=True) if pending else None
        if rows is None or rows.empty:
            return
        checked = self.validators[source.name].validate(rows)
        names = list(source.column_names)
        if not checked.rejected.empty:
            self._insert(
                "_rejects",
                checked.rejected[[*names, "_source_file", "_row_number"]].assign(
                    _raw_line=None, _reject_reason=checked.rejected["_reject_reason"]
                ),
            )
        if checked.valid.empty:
            return
        staged = checked.valid[names].copy()
        for name in names:
            staged[f"_t_{name}"] = rows.loc[checked.valid.index, name]
        staged["_row_number"] = checked.valid["_row_number"]
        staged["_source_file"] = checked.valid["_source_file"]
        self._insert("_incoming", staged, hashed=[f"_t_{n}" for n in names])

    def _stage_malformed(self, file: LandingFile, malformed: list[MalformedRecord]) -> None:
        if not malformed:
            return
        names = file.source.column_names
        self._insert(
            "_rejects",
            pd.DataFrame(
                {
                    **{n: pd.Series([None] * len(malformed), dtype=object) for n in names},
                    "_source_file": file.rel,
                    "_row_number": [m.row_number for m in malformed],
                    "_raw_line": [m.raw_line for m in malformed],
                    "_reject_reason": [m.reason for m in malformed],
                }
            ),
        )

    def _insert(self, table: str, frame: pd.DataFrame, hashed: Sequence[str] = ()) -> None:
        """Append `frame` to a staging table, with the hash of its `hashed` columns when given."""
        row_hash = f", md5(to_json(list_value({', '.join(quoted(n) for n in hashed)})))" if hashed else ""
        self.con.register("_frame", frame)
        try:
            self.con.execute(f"INSERT INTO {quoted(table)} SELECT *{row_hash} FROM _frame")
        finally:
            self.con.unregister("_frame")

    def _forget(self, source: Source, rel: str) -> None:
        for table in (raw_table(source), quarantine_table(source)):
            self.con.execute(f"DELETE FROM {table} WHERE _source_file = ?", [rel])
        self.con.execute("DELETE FROM raw.ingest_manifest WHERE file_path = ?", [rel])

    def _publish(self, source: Source, files: list[LandingFile]) -> None:
        """Move staged rows to raw and quarantine, then account for every file."""
        if not files:
            return
        key_join = (
            " AND ".join(f"f.{quoted(k)} = c.{quoted(k)}" for k in source.key) + " AND f._source_file = c._source_file"
        )
        key_cols = ", ".join(quoted(k) for k in source.key)
        same_key = " AND ".join(f"r.{quoted(k)} = k.{quoted(k)}" for k in source.key)  # keys are required values
        # First copy of each distinct row, in landing order, that raw does not hold yet. A row equal
        # to a loaded one has its key, so only the loaded rows of this batch's keys are compared:
        # comparing with every row hash in raw made each batch slower as the history grew. (The
        # key range of the batch also lets DuckDB skip the row groups of raw outside it.)
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _fresh AS
            WITH batch_keys AS (SELECT DISTINCT {key_cols} FROM _incoming),
                 loaded AS (SELECT r._row_hash FROM {raw_table(source)} AS r SEMI JOIN batch_keys AS k ON {same_key})
            SELECT * FROM _incoming
            WHERE _row_hash NOT IN (SELECT _row_hash FROM loaded)
            QUALIFY row_number() OVER (PARTITION BY _row_hash ORDER BY _source_file, _row_number) = 1""")
        # Two different rows with the same key in one file: no way to tell which is right.
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _conflicts AS
            SELECT _source_file, {key_cols}, count(*) AS versions FROM _fresh GROUP BY ALL HAVING count(*) > 1""")
        names = source.column_names
        # "key=value, ...": each key's "key=" is bound, its value read from the row
        key_label = " || ', ' || ".join(f"? || f.{quoted(f'_t_{k}')}" for k in source.key)
        self.con.execute(
            f"""
            INSERT INTO _rejects
            SELECT {", ".join(f"f.{quoted(f'_t_{n}')}" for n in names)}, f._source_file, f._row_number, NULL,
                   'key conflict: ' || c.versions || ' different rows in this file have ' || {key_label}
            FROM _fresh f JOIN _conflicts c ON {key_join}""",
            [f"{k}=" for k in source.key],
        )
        self.con.execute(
            f"""
            INSERT INTO {raw_table(source)}
            SELECT {", ".join(f"f.{quoted(n)}" for n in names)}, f._source_file, f._row_number, f._row_hash, ?
            FROM _fresh f ANTI JOIN _conflicts c ON {key_join}""",
            [self.ingested_at],
        )
        self.con.execute(
            f"""
            INSERT INTO {quarantine_table(source)}
            SELECT *, ? FROM _rejects""",
            [self.ingested_at],
        )
        self._account(files)
        self.con.execute("DROP TABLE _fresh")
        self.con.execute("DROP TABLE _conflicts")

    def _account(self, files: list[LandingFile]) -> None:
        counts = {
            rel: (staged, fresh, conflicting, rejected)
            for rel, staged, fresh, conflicting, rejected in self.con.execute(
                """
            WITH files AS (SELECT unnest(?::VARCHAR[]) AS f),
                 staged AS (SELECT _source_file, count(*) AS n FROM _incoming GROUP BY ALL),
                 fresh AS (SELECT _source_file, count(*) AS n FROM _fresh GROUP BY ALL),
                 conflicting AS (SELECT _source_file, sum(versions) AS n FROM _conflicts GROUP BY ALL),
                 rejected AS (SELECT _source_file, count(*) AS n FROM _rejects GROUP BY ALL)
            SELECT f, coalesce(staged.n, 0), coalesce(fresh.n, 0), coalesce(conflicting.n, 0),
                   coalesce(rejected.n, 0)
            FROM files
            LEFT JOIN staged ON staged._source_file = f
            LEFT JOIN fresh ON fresh._source_file = f
            LEFT JOIN conflicting ON conflicting._source_file = f
            LEFT JOIN rejected ON rejected._source_file = f""",
                [[f.rel for f in files]],
            ).fetchall()
        }
        for file in files:
            staged, fresh, conflicting, rejected = counts[file.rel]
            extra = file.extra_columns
            file.outcome = FileOutcome(
                file.rel,
                file.source.name,
                "loaded",
                file.rows_in,
                fresh - int(conflicting),
                rejected,
                staged - fresh,
                f"extra column(s) ignored: {describe_names(extra)}" if extra else None,
                extra,
            )
            o = file.outcome
            if o.rows_in != o.rows_loaded + o.rows_rejected + o.rows_duplicate:
                raise RuntimeError(f"row accounting does not add up for {file.rel}: {o}")
            self._record(file)

    def _record(self, file: LandingFile) -> None:
        """Queue the file's manifest row; the batch writes them together, before it commits."""
        outcome = file.outcome
        assert outcome is not None
        try:
            date = file_date(file.path).date()
        except FileRejected:
            date = None
        self._manifest.append(
            (
                outcome.file_path,
                outcome.source,
                date,
                file.checksum,
                file.size_bytes,
                outcome.rows_in,
                outcome.rows_loaded,
                outcome.rows_rejected,
                outcome.rows_duplicate,
                outcome.status,
                outcome.reason,
                ", ".join(outcome.extra_columns) or None,
                self.ingested_at,
                file.file_stamp,
            )
        )

    def _write_manifest(self) -> None:
        rows, self._manifest = self._manifest, []
        if not rows:
            return
        frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).astype(object)
        typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in MANIFEST_COLUMNS.items())
        self.con.register("_manifest_rows", frame)
        try:
            self.con.execute(f"INSERT INTO raw.ingest_manifest SELECT {typed} FROM _manifest_rows")
        finally:
            self.con.unregister("_manifest_rows")


def _copy_outcome(file: LandingFile, original: LandingFile) -> FileOutcome:
    """What loading a byte-identical copy after its original gives: a re-delivery (skipped, every row
    a duplicate) when the original had rows; else the original's outcome (empty or rejected)."""
    outcome = original.outcome
    assert outcome is not None
    if outcome.status == "skipped" or (outcome.status == "loaded" and outcome.rows_in > 0):
        reason = outcome.reason if outcome.status == "skipped" else f"same content as {original.rel}"
        rows = outcome.rows_in
        return FileOutcome(file.rel, file.source.name, "skipped", rows, 0, 0, rows, reason)
    return replace(outcome, file_path=file.rel)


def _count_data_lines(path: Path) -> int:
    """Records in a file that could not be parsed: its non-empty lines after the header."""
    if path.suffix.lower() == ".parquet":
        return 0
    with open(path, "rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(0, lines - 1)
