"""One writer at a time, with real processes: pipelines started together, readers during a run,
other programs holding the DuckDB file, and a writer killed while it holds the lock."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from churnmesh import locking
from churnmesh.settings import DataPaths
from churnmesh.warehouse import MARTS
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import INGEST_TABLES, fingerprint, query

CHURNMESH = Path(sys.executable).parent / "churnmesh"
DAY = (SCORED_AS_OF + timedelta(days=1)).isoformat()
STATE_TABLES = (*INGEST_TABLES, *MARTS, "scoring.churn_scores")
HOLDER_MESSAGE = r"another churnmesh run holds the warehouse \(pid {pid}, churnmesh pipeline, started at [0-9T:-]+Z\)"
BUSY_MESSAGE = "churnmesh query: error: warehouse is busy (a refresh is running); retry in a moment"
PIPELINE_SECONDS = 600


@dataclass
class Finished:
    code: int
    out: str
    err: str


@dataclass
class Started:
    process: subprocess.Popen
    out: Path
    err: Path

    def finish(self, timeout: float = PIPELINE_SECONDS) -> Finished:
        code = self.process.wait(timeout=timeout)
        return Finished(code, self.out.read_text(), self.err.read_text())


def _env(paths: DataPaths, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "CHURNMESH_DATA_DIR": str(paths.root), **extra}


def start(paths: DataPaths, logs: Path, name: str, *args: str, **env: str) -> Started:
    """A `churnmesh` process writing its output to files (pipes could fill up and block it)."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([str(CHURNMESH), *args], stdout=stdout, stderr=stderr, env=_env(paths, **env))
    return Started(process, out, err)


def run(paths: DataPaths, *args: str, **env: str) -> Finished:
    done = subprocess.run(
        [str(CHURNMESH), *args], capture_output=True, text=True, env=_env(paths, **env), timeout=300, check=False
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def lock_holder_pid(paths: DataPaths, among: set[int], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = locking.holder(paths).get("pid")
        if pid in among:
            return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"none of {among} took the lock within {timeout} s")


def warehouse_state(paths: DataPaths) -> dict[str, tuple[int, str]]:
    return fingerprint(paths.warehouse, STATE_TABLES)


def outbox(paths: DataPaths) -> list[tuple[str, str]]:
    lines = (paths.root / "notifications" / "outbox.jsonl").read_text().splitlines()
    return sorted((json.loads(line)["churnmesh"]["kind"], json.loads(line)["churnmesh"]["as_of"]) for line in lines)


@dataclass
class Contention:
    """Two pipelines for the same day started together, a third started while one runs (not
    willing to wait), readers during the run, and one pipeline alone on another copy."""

    paths: DataPaths
    winner: int
    runs: dict[int, Finished]
    refused: Finished
    readers: list[Finished] = field(default_factory=list)
    single: DataPaths | None = None


@pytest.fixture(scope="module")
def contention(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> Contention:
    root = tmp_path_factory.mktemp("contention")
    single = scored_copy(scored_base, root / "single").paths
    paths = scored_copy(scored_base, root / "shared").paths
    alone = start(single, root / "logs", "alone", "pipeline", "--as-of", DAY)
    first = start(paths, root / "logs", "first", "pipeline", "--as-of", DAY, "--wait-seconds", "600")
    second = start(paths, root / "logs", "second", "pipeline", "--as-of", DAY, "--wait-seconds", "600")
    winner = lock_holder_pid(paths, {first.process.pid, second.process.pid})
    refused = run(paths, "pipeline", "--as-of", DAY, "--wait-seconds", "0")
    readers = []
    while len(readers) < 4 and (first.process.poll() is None or second.process.poll() is None):
        readers.append(run(paths, "query", "customer", "C0000001", "--format", "json"))
    runs = {first.process.pid: first.finish(), second.process.pid: second.finish()}
    assert alone.finish().code == 0
    return Contention(paths, winner, runs, refused, readers, single)


def test_two_pipelines_started_together_run_one_after_the_other(contention: Contention) -> None:
    assert [r.code for r in contention.runs.values()] == [0, 0], [r.err[-2000:] for r in contention.runs.values()]
    loser = next(r for pid, r in contention.runs.items() if pid != contention.winner)
    waiting = r"churnmesh pipeline: waiting up to 600 s: " + HOLDER_MESSAGE.format(pid=contention.winner)
    assert re.search(waiting, loser.err), loser.err[:2000]
    assert loser.out.startswith("nothing new: "), "the first run did the day's work and sent its alerts"
    for finished in contention.runs.values():
        assert "Traceback" not in finished.err


def test_a_pipeline_that_will_not_wait_stops_with_the_holder_and_a_clear_message(contention: Contention) -> None:
    refused = contention.refused
    assert refused.code == locking.BUSY_EXIT
    pattern = r"^churnmesh pipeline: error: " + HOLDER_MESSAGE.format(pid=contention.winner) + "; retry later$"
    assert re.fullmatch(pattern, refused.err.strip()), refused.err
    assert refused.out == ""


def test_after_both_the_warehouse_equals_a_single_runs(contention: Contention) -> None:
    assert contention.single is not None
    assert warehouse_state(contention.paths) == warehouse_state(contention.single)
    assert outbox(contention.paths) == outbox(contention.single), "no alert may be sent twice"


def test_the_manifest_accounts_for_every_file_once(contention: Contention) -> None:
    (files, distinct, unbalanced) = query(
        contention.paths.warehouse,
        "SELECT count(*), count(DISTINCT file_path), "
        "count(*) FILTER (WHERE status = 'loaded' AND rows_in <> rows_loaded + rows_rejected + rows_duplicate) "
        "FROM raw.ingest_manifest",
    )[0]
    assert files == distinct and unbalanced == 0
    (day_files,) = query(
        contention.paths.warehouse, "SELECT count(*) FROM raw.ingest_manifest WHERE file_date = ?", [DAY]
    )[0]
    assert day_files > 0, "the day's files were loaded (by the first run only)"


def test_a_reader_during_a_run_gets_an_answer_or_is_told_the_warehouse_is_busy(contention: Contention) -> None:
    assert contention.readers, "the readers ran while a pipeline held the warehouse"
    for reader in contention.readers:
        assert "Traceback" not in reader.err
        if reader.code == 0:
            assert json.loads(reader.out)["customer_id"] == "C0000001"
        else:
            assert reader.code == locking.BUSY_EXIT and reader.err.strip() == BUSY_MESSAGE, reader.err
    assert any(r.code == locking.BUSY_EXIT for r in contention.readers), "a run holds the warehouse throughout"


# ---- other programs, and a killed writer -------------------------------------------------------------
HOLD = """
import sys, time
import duckdb
from pathlib import Path
from churnmesh.locking import writer_lock
from churnmesh.settings import DataPaths
what, target = sys.argv[1], sys.argv[2]
if what == "lock":
    context = writer_lock(DataPaths(Path(target)), "pipeline", 0)
    context.__enter__()
else:
    con = duckdb.connect(target, read_only=(what == "duckdb-reader"))
print("holding", flush=True)
time.sleep(600)
"""


@contextmanager
def holding(what: str, target: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the churnmesh lock ("lock") or the DuckDB file ("duckdb-writer",
    "duckdb-reader", as a BI tool would); killed with SIGKILL at the end."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, what, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "holding"
        yield process
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.fixture
def scored(scored_base: Scored, tmp_path: Path) -> DataPaths:
    return scored_copy(scored_base, tmp_path).paths


def test_a_bi_tool_gets_duckdbs_lock_error_while_a_process_writes(scored: DataPaths) -> None:
    """DuckDB's own message, which churnmesh cannot change: it names the holder's program and pid."""
    with holding("duckdb-writer", scored.warehouse) as writer:
        with pytest.raises(duckdb.IOException) as refused:
            duckdb.connect(str(scored.warehouse), read_only=True)
        message = str(refused.value)
        assert "Could not set lock on file" in message and f"(PID {writer.pid})" in message, message
        reader = run(scored, "query", "segment", CHURNMESH_QUERY_WAIT_SECONDS="1")
    assert reader.code == locking.BUSY_EXIT and reader.err.strip() == BUSY_MESSAGE, reader.err
    assert "Traceback" not in reader.err


def test_a_writer_waits_for_a_bi_tool_connection_then_names_it(scored: DataPaths) -> None:
    before = warehouse_state(scored)
    with holding("duckdb-reader", scored.warehouse) as bi_tool:
        refused = run(scored, "ingest", "--wait-seconds", "1")
    assert refused.code == locking.BUSY_EXIT, refused.err
    assert f"warehouse.duckdb is open in another program (pid {bi_tool.pid}" in refused.err
    assert "close it" in refused.err and "Traceback" not in refused.err
    assert warehouse_state(scored) == before


def test_a_killed_writer_leaves_no_stale_lock(scored: DataPaths) -> None:
    with holding("lock", scored.root) as writer:
        busy = run(scored, "ingest", "--wait-seconds", "0")
        with pytest.raises(locking.WarehouseBusy, match=f"pid {writer.pid}"), locking.writer_lock(scored, "t", 0):
            pass
    assert busy.code == locking.BUSY_EXIT and "Traceback" not in busy.err
    assert re.fullmatch(
        r"churnmesh ingest: error: " + HOLDER_MESSAGE.format(pid=writer.pid) + "; retry later", busy.err.strip()
    )
    # SIGKILL: no cleanup ran, the details are still in the file, yet the lock is free at once.
    assert locking.holder(scored).get("pid") == writer.pid
    with locking.writer_lock(scored, "rerun", 0), locking.writer_lock(scored, "nested", 0):
        assert locking.holder(scored)["command"] == "churnmesh rerun"
    assert locking.holder(scored) == {}, "a clean release clears the details"
