"""SQLMesh state that no timing can drop, and failures that carry their real cause.

Real DuckDB files and real processes: each refresh runs as its own process, the state file is
held by another process or its opens fail at injected moments (DuckDB's own lock error), and a
`sqlmesh` CLI command meets a churnmesh run's writer lock. After each, every row of SQLMesh's
state tables is where it was and no `_backup` table exists. A full disk during the first build
(a real one on a small tmpfs where mounting is allowed, and one injected inside a model through
CHURNMESH_FAIL_AT) is reported with "No space left on device" and what it concerns, and a rerun
once there is room ends in the warehouse an uninterrupted build gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from prefect.testing.utilities import prefect_test_harness

from churnmesh import locking
from churnmesh.faults import FAIL_ENV
from churnmesh.ingestion import ingest
from churnmesh.orchestration.notify import WEBHOOK_ENV
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.state_guard import StateProtected
from churnmesh.warehouse import MARTS, build_prod, sqlmesh_context
from tests.checksums import table_checksums
from tests.webhook import webhook_receiver

AS_OF = date(2024, 2, 15)
SQLMESH = Path(sys.executable).parent / "sqlmesh"
STATE_TABLES = ("_snapshots", "_environments", "_intervals", "_versions")
RUN_SECONDS = 600

# A refresh of AS_OF in a process of its own. The opens of state.duckdb numbered in argv[2] fail
# with DuckDB's lock error, as when another process holds the file at that moment.
REFRESH = """
import sys
from datetime import date
from pathlib import Path
import duckdb
failing = {int(n) for n in sys.argv[2].split(",") if n}
real_connect, opens = duckdb.connect, [0]
def connect(database=":memory:", *args, **kwargs):
    if str(database).endswith("state.duckdb"):
        opens[0] += 1
        if opens[0] in failing:
            raise duckdb.IOException(
                f'IO Error: Could not set lock on file "{database}": Conflicting lock is held in '
                "/usr/bin/python3 (PID 4242) by user root. See also https://duckdb.org/docs/connect/concurrency"
            )
    return real_connect(database, *args, **kwargs)
duckdb.connect = connect
from churnmesh.locking import WarehouseBusy
from churnmesh.orchestration.refresh import WarehouseRefreshFailed, refresh_warehouse
from churnmesh.settings import DataPaths
try:
    result = refresh_warehouse(DataPaths(Path(sys.argv[1])), date.fromisoformat(sys.argv[3]))
    print("refreshed:", result.status)
except (WarehouseRefreshFailed, WarehouseBusy) as failure:  # as `churnmesh pipeline` reports them
    print("failed:", failure)
    sys.exit(1)
"""


def _env(paths: DataPaths, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNMESH_")}
    return env | {"CHURNMESH_DATA_DIR": str(paths.root), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"} | extra


def refresh(paths: DataPaths, failing_opens: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", REFRESH, str(paths.root), failing_opens, AS_OF.isoformat()]
    return subprocess.run(
        command, env=_env(paths, **env), capture_output=True, text=True, timeout=RUN_SECONDS, cwd=PROJECT_ROOT
    )


def state_rows(paths: DataPaths) -> dict[str, list[tuple]]:
    """Every row of every table in SQLMesh's state schema, sorted, read with plain DuckDB."""
    con = duckdb.connect(str(paths.state), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sqlmesh' ORDER BY 1"
        ).fetchall()
        return {name: sorted(map(repr, con.execute(f'FROM sqlmesh."{name}"').fetchall())) for (name,) in tables}
    finally:
        con.close()


def assert_state_intact(paths: DataPaths, before: dict[str, list[tuple]]) -> None:
    after = state_rows(paths)
    assert not [name for name in after if name.endswith("_backup")], "a migration backed the state up"
    assert all(before[name] for name in STATE_TABLES), "the reference state has rows in every table"
    assert after == before


@pytest.fixture(scope="module")
def ingested(clean_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """Landing files loaded, nothing built: the next refresh is the first build."""
    paths = DataPaths(tmp_path_factory.mktemp("ingested") / "data")
    shutil.copytree(clean_landing, paths.landing)
    ingest(paths.landing, paths.warehouse)
    return paths


@pytest.fixture(scope="module")
def built(ingested: DataPaths, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """Prod built up to AS_OF without interruption: the reference."""
    paths = DataPaths(tmp_path_factory.mktemp("built") / "data")
    shutil.copytree(ingested.root, paths.root)
    build_prod(paths, AS_OF)
    return paths


def copy_of(paths: DataPaths, target: Path) -> DataPaths:
    copied = DataPaths(target / "data")
    shutil.copytree(paths.root, copied.root, ignore=shutil.ignore_patterns("published"))
    return copied


def marts(paths: DataPaths) -> dict[str, tuple[int, str]]:
    return table_checksums(paths.warehouse, list(MARTS), float_decimals=6)


# ---------------------------------------------------------------- the state file, busy


@pytest.mark.parametrize("failing_opens", ["1", "1,2,3", "1,2,3,4,5", "1,2,3,4,6"])
def test_opens_of_the_state_file_that_fail_are_waited_out_and_change_no_state(
    built: DataPaths, tmp_path: Path, failing_opens: str
) -> None:
    """Before the guard, these patterns made SQLMesh take the state for a new project: it backed
    the state up, "migrated" it and failed ("There are no prior migrations to roll back to")."""
    paths = copy_of(built, tmp_path)
    before = state_rows(paths)
    run = refresh(paths, failing_opens, CHURNMESH_LOCK_WAIT_SECONDS="30")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "refreshed: nothing_to_do" in run.stdout
    assert "Initializing new project state" not in run.stdout + run.stderr
    assert_state_intact(paths, before)


def test_a_state_file_another_program_keeps_stops_the_run_with_one_line(built: DataPaths, tmp_path: Path) -> None:
    """Held by another writer past the wait: the run stops, naming the holder, and changes nothing."""
    paths = copy_of(built, tmp_path)
    before = state_rows(paths)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(1, flush=True); "
         "time.sleep(120)", str(paths.state)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"
        run = refresh(paths, CHURNMESH_LOCK_WAIT_SECONDS="1")
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 1, run.stdout + run.stderr
    (message,) = [line for line in run.stdout.splitlines() if line.startswith("failed:")]
    assert f"the SQLMesh state file is open in another program (pid {holder.pid}," in message
    assert "nothing was changed" in message
    assert "Traceback" not in run.stdout + run.stderr
    assert "Initializing new project state" not in run.stdout + run.stderr
    assert_state_intact(paths, before)


def test_state_tables_with_rows_and_no_version_are_never_migrated_or_dropped(built: DataPaths, tmp_path: Path) -> None:
    """The versions row gone (a damaged file, a hand edit): SQLMesh would initialize a new project
    over the rows, and its rollback would drop every table. Both are refused."""
    paths = copy_of(built, tmp_path)
    con = duckdb.connect(str(paths.state))
    con.execute("DELETE FROM sqlmesh._versions")
    con.close()
    before = state_rows(paths)
    refused = pytest.raises(StateProtected, match="no recorded version but holds rows")
    with refused, sqlmesh_context(paths, churn_model="none") as context:
        context.state_reader.get_environment("prod")
    assert state_rows(paths) == before


# ---------------------------------------------------------------- the sqlmesh CLI


def sqlmesh(paths: DataPaths, *args: str, wait: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SQLMESH), *args],
        env=_env(paths, CHURNMESH_LOCK_WAIT_SECONDS=wait),
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        cwd=PROJECT_ROOT,
    )


def test_a_sqlmesh_command_during_a_churnmesh_run_stops_with_one_line(built: DataPaths, tmp_path: Path) -> None:
    paths = copy_of(built, tmp_path)
    before = state_rows(paths)
    with locking.writer_lock(paths, "pipeline"):
        run = sqlmesh(paths, "plan", "dev", "--auto-apply", wait="0")
    assert run.returncode == locking.BUSY_EXIT, run.stdout + run.stderr
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith(
        f"sqlmesh plan: another churnmesh run holds the warehouse (pid {os.getpid()}, churnmesh pipeline"
    )
    assert line.endswith("retry later")
    assert_state_intact(paths, before)


def test_a_sqlmesh_command_waits_for_a_churnmesh_run_then_runs(built: DataPaths, tmp_path: Path) -> None:
    paths = copy_of(built, tmp_path)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locking.writer_lock(paths, "pipeline"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    threading.Timer(10, release.set).start()  # longer than the CLI takes to start
    started = time.monotonic()
    run = sqlmesh(paths, "environments", wait="60")
    holder.join()
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.monotonic() - started >= 10
    assert "prod" in run.stdout
    assert "Initializing new project state" not in run.stdout + run.stderr
    (waiting,) = run.stderr.splitlines()
    assert waiting.startswith("sqlmesh environments: waiting up to 60 s: another churnmesh run holds the warehouse")


def test_a_churnmesh_writer_names_a_sqlmesh_command_that_holds_the_lock() -> None:
    info = {"pid": 7, "command": "sqlmesh plan dev", "started_at": "2026-01-01T00:00:00Z"}
    assert locking.describe_holder(info) == (
        "a sqlmesh command holds the warehouse (pid 7, sqlmesh plan dev, started at 2026-01-01T00:00:00Z)"
    )


# ---------------------------------------------------------------- a full disk


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_a_full_disk_inside_a_model_names_the_model_in_the_run_state_and_the_alerts(
    ingested: DataPaths, built: DataPaths, tmp_path: Path, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from churnmesh.orchestration.flows import daily_refresh

    paths = copy_of(ingested, tmp_path)
    with webhook_receiver(200) as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
        monkeypatch.setenv(FAIL_ENV, "scoring.clv")  # inside the CLV model's evaluation
        state = daily_refresh(as_of=AS_OF, data_dir=str(paths.root), return_state=True)
        monkeypatch.delenv(FAIL_ENV)
        assert state.is_failed()
        cause = "scoring.clv_predictions: OSError: [Errno 28] No space left on device"
        assert cause in state.message
        assert "Plan application failed" not in state.message
        texts = [alert["text"] for alert in receiver.received]
        assert len(texts) == 2 and all(cause in text for text in texts), texts
        # Room again: the rerun ends where an uninterrupted build does.
        again = daily_refresh(as_of=AS_OF, data_dir=str(paths.root))
    assert again["refresh"]["planned_prod"] and not again["refresh"]["failures"]
    assert marts(paths) == marts(built)


def _can_mount_tmpfs(target: Path) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], capture_output=True)
    if mounted.returncode:
        return False
    subprocess.run(["umount", str(target)], check=True)
    return True


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 6 MB (the ingested data takes about 5): room to start the first build, not to end it."""
    mount = tmp_path / "disk"
    if not _can_mount_tmpfs(mount):
        pytest.skip("mounting a tmpfs is not permitted here (the injected full disk covers the cause)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def test_a_real_full_disk_during_the_first_build_says_so_and_a_rerun_with_room_converges(
    ingested: DataPaths, built: DataPaths, small_disk: Path
) -> None:
    paths = copy_of(ingested, small_disk)
    run = refresh(paths)
    assert run.returncode == 1, run.stdout + run.stderr
    # Where the disk fills depends on the machine (a model, the state, Prefect's own database), so
    # the line that names the cause is looked for in all the run printed.
    output = run.stdout + run.stderr
    causes = [line for line in output.splitlines() if "No space left on device" in line]
    assert causes, output
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    rerun = refresh(paths)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert marts(paths) == marts(built)
    assert set(state_rows(paths)) == set(state_rows(built))
