"""Hostile landing files (tests/hostile_corpus.py): each one, dropped next to a warehouse that
holds a clean load, is either loaded with exact accounting or rejected whole with a reason; either
way nothing else in the warehouse changes, the process neither crashes nor balloons, and a second
ingest of the same folder changes nothing."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path
from types import TracebackType

import pytest

from churnmesh.generator import GeneratorConfig, generate
from churnmesh.ingestion import FileOutcome, ingest
from churnmesh.ingestion.reader import landing_name
from tests.checksums import table_checksums
from tests.helpers import INGEST_TABLES, LOAD_STATE_COLUMNS, query
from tests.hostile_corpus import CASES, FIXTURES, HostileCase, Loaded, Rejected

CLEAN_LOAD = GeneratorConfig(customers=20, start=date(2024, 1, 1), end=date(2024, 1, 5), seed=3)
# The largest file is 50 MB; ingestion reads in bounded chunks, so it needs far less than ten times that.
MEMORY_BOUND_BYTES = 512 * 1024 * 1024
READABLE_REASON_CHARS = 500


@pytest.fixture(scope="module")
def clean_load(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A landing folder and the warehouse holding its clean load, built once; copy before use."""
    root = tmp_path_factory.mktemp("clean_load")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(CLEAN_LOAD, landing)
    report = ingest(landing, warehouse)
    assert report.count("loaded") > 0 and report.count("rejected") == 0
    return landing, warehouse


class PeakMemory:
    """The most the resident memory of this process grew over its starting point, sampled from
    /proc every few milliseconds while the block runs (None where /proc is not available)."""

    def __init__(self) -> None:
        self.growth: int | None = None
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _resident() -> int | None:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return None
        return pages * 4096

    def _sample(self) -> None:
        start = self._resident()
        if start is None:
            return
        peak = start
        while not self._stop.wait(0.005):
            peak = max(peak, self._resident() or 0)
        self.growth = max(peak, self._resident() or 0) - start

    def __enter__(self) -> PeakMemory:
        self._sampler.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._sampler.join()


def test_the_corpus_is_broad_and_every_committed_file_is_a_case() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
    assert len({c.source for c in CASES}) >= 6
    committed = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file()}
    assert committed == {f"{c.source}/{c.name}" for c in CASES if c.make is None}
    assert all(p.stat().st_size < 10_000 for p in FIXTURES.rglob("*") if p.is_file()), "big files are generated"


@pytest.mark.timeout(300)  # a hang fails the case instead of the whole run
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_hostile_file_is_loaded_exactly_or_rejected_whole_and_nothing_else_changes(
    case: HostileCase, clean_load: tuple[Path, Path], tmp_path: Path
) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(clean_load[0], landing)
    shutil.copy(clean_load[1], warehouse)
    before = table_checksums(warehouse, INGEST_TABLES, exclude_columns=LOAD_STATE_COLUMNS)
    rel = landing_name(landing, case.write_into(landing))

    with PeakMemory() as memory:
        report = ingest(landing, warehouse)

    new = [o for o in report.outcomes if o.status != "unchanged"]
    assert [o.file_path for o in new] == [rel], "only the new file is read; the clean files are left alone"
    if isinstance(case.expected, Loaded):
        assert_loaded_exactly(warehouse, case, new[0], case.expected)
    else:
        assert_rejected_whole(warehouse, case, new[0], case.expected)
    others = table_checksums(warehouse, INGEST_TABLES, exclude_columns=LOAD_STATE_COLUMNS, leave_out=[rel])
    assert others == before, "something else changed"
    assert memory.growth is None or memory.growth < MEMORY_BOUND_BYTES, f"memory grew by {memory.growth:,} bytes"

    after = table_checksums(warehouse, INGEST_TABLES, exclude_columns=LOAD_STATE_COLUMNS)
    again = ingest(landing, warehouse)
    assert {o.status for o in again.outcomes} == {"unchanged"}
    second = table_checksums(warehouse, INGEST_TABLES, exclude_columns=LOAD_STATE_COLUMNS)
    assert second == after, "a second ingest changed the warehouse"


def assert_loaded_exactly(warehouse: Path, case: HostileCase, outcome: FileOutcome, expected: Loaded) -> None:
    rel = outcome.file_path
    ((status, rows_in, loaded, rejected, duplicate, reason),) = query(
        warehouse,
        "SELECT status, rows_in, rows_loaded, rows_rejected, rows_duplicate, reason FROM raw.ingest_manifest "
        "WHERE file_path = ?",
        [rel],
    )
    assert status == "loaded", reason
    assert (rows_in, loaded, duplicate) == (expected.rows_in, expected.rows_loaded, 0)
    assert rows_in == loaded + rejected + duplicate
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == (rows_in, loaded, rejected)
    raw = f"raw.{case.source}"
    assert query(warehouse, f"SELECT count(*) FROM {raw} WHERE _source_file = ?", [rel]) == [(loaded,)]
    reasons = [
        r
        for (r,) in query(
            warehouse, f"SELECT _reject_reason FROM quarantine.{case.source} WHERE _source_file = ?", [rel]
        )
    ]
    assert len(reasons) == rejected
    assert all(r and r.strip() for r in reasons), "every quarantined row says why"
    if expected.quarantine_reason is not None:
        assert any(expected.quarantine_reason in r for r in reasons), reasons
    if expected.manifest_reason is not None:
        assert expected.manifest_reason in (reason or ""), reason
    else:
        assert reason is None
    for table, column, value in expected.verbatim:
        found = query(
            warehouse,
            f'SELECT count(*) FROM {table}.{case.source} WHERE _source_file = ? AND "{column}" = ?',
            [rel, value],
        )
        assert found[0][0] >= 1, f"{value!r} is not stored verbatim in {table}.{case.source}.{column}"


def assert_rejected_whole(warehouse: Path, case: HostileCase, outcome: FileOutcome, expected: Rejected) -> None:
    rel = outcome.file_path
    ((status, reason),) = query(warehouse, "SELECT status, reason FROM raw.ingest_manifest WHERE file_path = ?", [rel])
    assert (status, reason) == ("rejected", outcome.reason)
    assert expected.reason in reason, reason
    assert "\n" not in reason and len(reason) <= READABLE_REASON_CHARS, "a reason is one readable line"
    assert "Traceback" not in reason
    for table in (f"raw.{case.source}", f"quarantine.{case.source}"):
        assert query(warehouse, f"SELECT count(*) FROM {table} WHERE _source_file = ?", [rel]) == [(0,)]
