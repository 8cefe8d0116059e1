"""Synthetic exports of a subscription and e-commerce business, with a known ground truth.

`generate()` simulates customers in chunks (bounded memory), writes one landing file per source
and day, optionally injects the faults of real exports, and writes the truth (dropout dates and
drivers, injected faults) to `_truth/`, which ingestion never reads. Same arguments, same bytes.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnmesh.contracts import SOURCES
from churnmesh.generator.dirty import (
    EXPECTED_OUTCOME,
    FILE_FAULT_OUTCOME,
    inject_file_faults,
    inject_row_faults,
)
from churnmesh.generator.frames import FrameBuilder, to_text_table
from churnmesh.generator.reference import app_releases, load_reference
from churnmesh.generator.simulate import ChunkSimulation, IdCounters, chunk_bounds
from churnmesh.vocabulary import GENERATOR_END, GENERATOR_START

DEFAULT_START = GENERATOR_START
DEFAULT_END = GENERATOR_END
CHUNK_SIZE = 50_000
TRUTH_DIR = "_truth"
FILE_FAULT_SHARE = 0.5  # whole-file faults per file, as a share of the row fault rate


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int
    start: date = DEFAULT_START
    end: date = DEFAULT_END
    seed: int = 42
    dirty_rate: float = 0.0
    file_format: str = "csv"
    chunk_size: int = CHUNK_SIZE
    # Multiplies every customer's session rate: denser app usage for load tests, same customers.
    session_rate_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.customers < 1 or self.customers > 9_900_000:
            raise ValueError("customers must be between 1 and 9,900,000")
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if not 0.0 <= self.dirty_rate <= 0.5:
            raise ValueError("dirty rate must be between 0 and 0.5")
        if not 0.0 < self.session_rate_scale <= 10.0:
            raise ValueError("session rate scale must be above 0 and at most 10")
        if self.file_format not in ("csv", "parquet"):
            raise ValueError("file format must be csv or parquet")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class GenerateResult:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    row_faults: int = 0
    file_faults: int = 0
    seconds: float = 0.0


class LandingWriter:
    """Appends rows to `<out>/<source>/<YYYY-MM-DD>.<ext>` and remembers rows per file."""

    def __init__(self, out: Path, config: GeneratorConfig) -> None:
        self.out, self.config = out, config
        self.rows_in_file: dict[Path, int] = {}
        self.fault_log: list[dict[str, object]] = []

    def path(self, source: str, day: int, chunk: int) -> Path:
        stamp = (pd.Timestamp(self.config.start) + pd.Timedelta(days=day)).strftime("%Y-%m-%d")
        if self.config.file_format == "parquet":
            return self.out / source / f"{stamp}_part{chunk:03d}.parquet"
        return self.out / source / f"{stamp}.csv"

    def write(self, source: str, table: pa.Table, file_day: np.ndarray, fault: np.ndarray, chunk: int) -> None:
        order = np.argsort(file_day, kind="stable")
        table, file_day, fault = table.take(pa.array(order)), file_day[order], fault[order]
        days, starts = np.unique(file_day, return_index=True)
        ends = np.append(starts[1:], len(file_day))
        for day, a, b in zip(days, starts, ends, strict=True):
            path = self.path(source, int(day), chunk)
            before = self.rows_in_file.get(path, 0)
            self._append(path, table.slice(a, b - a), header=before == 0)
            self.rows_in_file[path] = before + (b - a)
            for offset in np.flatnonzero(fault[a:b] != ""):
                self.fault_log.append(
                    {
                        "source": source,
                        "file": path.relative_to(self.out).as_posix(),
                        "row_number": before + int(offset) + 1,
                        "fault": fault[a + offset],
                        "expected": EXPECTED_OUTCOME[str(fault[a + offset])],
                    }
                )

    def _append(self, path: Path, table: pa.Table, header: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.config.file_format == "parquet":
            pq.write_table(table, path)
            return
        with open(path, "ab") as sink:
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header))

    def fill_missing_days(self, source: str, schema: pa.Schema) -> None:
        """Every source has a file for every day, header-only when nothing happened."""
        for day in range(self.config.days):
            path = self.path(source, day, 0)
            if self.config.file_format == "parquet" and any(path.parent.glob(path.name[:10] + "*")):
                continue
            if path not in self.rows_in_file:
                self._append(path, schema.empty_table(), header=True)
                self.rows_in_file[path] = 0


def generate(config: GeneratorConfig, out: Path) -> GenerateResult:
    began = time.perf_counter()
    out = Path(out)
    for source in SOURCES:
        shutil.rmtree(out / source.name, ignore_errors=True)
    shutil.rmtree(out / TRUTH_DIR, ignore_errors=True)
    ref = load_reference()
    releases = app_releases(config.days)
    seeds = np.random.SeedSequence(config.seed)
    writer = LandingWriter(out, config)
    ids = IdCounters()
    result = GenerateResult(out=out)
    truths = []
    chunks = list(chunk_bounds(config.customers, config.chunk_size))
    chunk_seeds = seeds.spawn(len(chunks) + 1)
    for chunk, ((first, size), chunk_seed) in enumerate(zip(chunks, chunk_seeds, strict=False)):
        rng = np.random.default_rng(chunk_seed)
        sim = ChunkSimulation(
            ref, releases, pd.Timestamp(config.start), config.days, first, size, rng, ids, config.session_rate_scale
        )
        events = sim.run()
        for source, columns in FrameBuilder(sim, events).build().items():
            table, file_day = to_text_table(source, columns)
            fault = np.full(len(file_day), "", dtype=object)
            if config.dirty_rate > 0:
                rows, file_day, fault = inject_row_faults(
                    source, table.to_pandas(), file_day, config.days, config.dirty_rate, rng
                )
                table = pa.Table.from_pandas(rows, schema=table.schema, preserve_index=False)
            writer.write(source, table, file_day, fault, chunk)
            result.rows[source] = result.rows.get(source, 0) + table.num_rows
        truths.append(sim.truth())
    for source in SOURCES:
        writer.fill_missing_days(source.name, pa.schema([(c, pa.string()) for c in source.column_names]))
    file_faults = []
    if config.dirty_rate > 0 and config.file_format == "csv":
        candidates = sorted(p for p, n in writer.rows_in_file.items() if n > 0)
        file_faults = inject_file_faults(
            candidates, config.dirty_rate * FILE_FAULT_SHARE, np.random.default_rng(chunk_seeds[-1])
        )
    _write_truth(out, truths, releases, writer, file_faults)
    result.files = len(writer.rows_in_file)
    result.row_faults = len(writer.fault_log)
    result.file_faults = len(file_faults)
    result.seconds = time.perf_counter() - began
    return result


def _write_truth(
    out: Path, truths: list[pd.DataFrame], releases: tuple, writer: LandingWriter, file_faults: list
) -> None:
    truth_dir = out / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    pd.concat(truths, ignore_index=True).to_csv(truth_dir / "customers.csv", index=False, date_format="%Y-%m-%d")
    pd.DataFrame(
        [
            {
                "version": r.version,
                "release_date": pd.Timestamp(writer.config.start) + pd.Timedelta(days=r.day),
                "defective": r.defective,
            }
            for r in releases
        ]
    ).to_csv(truth_dir / "app_releases.csv", index=False, date_format="%Y-%m-%d")
    columns = ["source", "file", "row_number", "fault", "expected"]
    pd.DataFrame(writer.fault_log, columns=columns).to_csv(truth_dir / "row_faults.csv", index=False)
    pd.DataFrame(
        [
            {
                "source": f.path.parent.name,
                "file": f.path.relative_to(out).as_posix(),
                "fault": f.kind,
                "detail": f.detail,
                "expected": FILE_FAULT_OUTCOME[f.kind],
            }
            for f in file_faults
        ],
        columns=["source", "file", "fault", "detail", "expected"],
    ).to_csv(truth_dir / "file_faults.csv", index=False)
