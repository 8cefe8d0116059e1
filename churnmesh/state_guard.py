"""SQLMesh state that no timing can drop, and one writer discipline for churnmesh and `sqlmesh`.

SQLMesh (0.236) decides whether its state exists in `VersionState.get_versions`
(sqlmesh/core/state_sync/db/version.py): `engine_adapter.table_exists(_versions)` runs a DESCRIBE
and returns False on *any* exception (sqlmesh/core/engine_adapter/base.py). A state file another
process holds (DuckDB: "Could not set lock on file"), or any other failed read, therefore reads as
"no state": `Context.state_sync` (sqlmesh/core/context.py) prints "Initializing new project
state..." and migrates a new project over the existing one, and when that fails
`StateMigrator.rollback` (sqlmesh/core/state_sync/db/migrator.py) asks for the versions again and,
reading 0 once more, drops `_snapshots`, `_environments`, `_intervals` and `_versions`.

`install()` closes that path: the versions are read with a lookup that raises instead of
answering False (a busy DuckDB file is waited for, up to the writer lock's wait), and neither a
migration from version 0 nor its rollback proceeds while the state tables hold rows. PostgreSQL
state goes through the same lookup (pg_tables); its behaviour is otherwise unchanged.

`hold_for_sqlmesh_cli()` makes a `sqlmesh` command run at the repo root take churnmesh's writer
lock (churnmesh/locking.py) for its whole life, so it waits for a churnmesh run, or stops with one
line, and a churnmesh run waits for it. The project's config.py calls both.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.helper import seq_get
from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_paths
from sqlmesh.core.state_sync.base import Versions
from sqlmesh.core.state_sync.db.migrator import StateMigrator
from sqlmesh.core.state_sync.db.utils import fetchone
from sqlmesh.core.state_sync.db.version import VersionState
from sqlmesh.utils.errors import SQLMeshError

from churnmesh import locking
from churnmesh.settings import data_paths

PROJECT_SETTINGS = "project.yaml"
BUSY_EXIT = locking.BUSY_EXIT
# The sqlmesh subcommands that never open the state or the warehouse.
LOCAL_ONLY_COMMANDS = frozenset({"format", "init", "ui"})


class StateUnavailable(locking.WarehouseBusy, SQLMeshError):
    """SQLMesh state could not be read; nothing was changed. One line says why and what to do.
    A SQLMeshError too, so that the `sqlmesh` CLI prints it as one line instead of a traceback."""


class StateProtected(SQLMeshError):
    """SQLMesh was about to migrate or drop state tables that hold rows, with no version recorded."""


# ---------------------------------------------------------------- the versions, read strictly


def _strict_get_versions(self: VersionState) -> Versions:
    """VersionState.get_versions, with a lookup of the versions table that raises on failure."""
    if not _table_exists(self.engine_adapter, self.versions_table):
        return Versions()
    row = fetchone(self.engine_adapter, exp.select("*").from_(self.versions_table))
    if not row:
        return Versions()
    return Versions(schema_version=row[0], sqlglot_version=row[1], sqlmesh_version=seq_get(row, 2))


def _table_exists(adapter: Any, table: exp.Table) -> bool:
    """Whether `table` exists, from the catalog (DuckDB: information_schema; PostgreSQL: pg_tables).
    A busy DuckDB file is retried for up to the writer lock's wait; any other failure raises."""
    wait = locking.default_wait_seconds()
    deadline = time.monotonic() + wait
    announced = False
    while True:
        try:
            return adapter.get_data_object(table) is not None
        except Exception as exc:
            busy = _busy_error(exc)
            if busy is None or time.monotonic() >= deadline:
                raise StateUnavailable(_unavailable_message(exc, busy, wait)) from exc
            if not announced and wait >= 1:
                print(f"waiting up to {wait:g} s: {_holder_of(busy)}", file=sys.stderr)
                announced = True
            time.sleep(locking.POLL_SECONDS)


def _busy_error(exc: BaseException) -> BaseException | None:
    """The DuckDB lock conflict in `exc`'s chain, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if locking.is_lock_error(seen) or locking.DUCKDB_LOCK_ERROR.search(str(seen)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _holder_of(busy: BaseException) -> str:
    match = locking.DUCKDB_HOLDER.search(str(busy))
    holder = f"pid {match.group(2)}, {match.group(1)}" if match else "another process"
    return f"the SQLMesh state file is open in another program ({holder})"


def _unavailable_message(exc: BaseException, busy: BaseException | None, wait: float) -> str:
    if busy is not None:
        return f"{_holder_of(busy)}; nothing was changed; close it and retry (waited {wait:g} s)"
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"the SQLMesh state could not be read ({first_line}); nothing was changed"


# ---------------------------------------------------------------- no migration over rows


def _rows_without_version(migrator: StateMigrator) -> dict[str, int]:
    """Rows in the state tables while no schema version is recorded (empty: a new state)."""
    if migrator.version_state.get_versions().schema_version:
        return {}
    tables = [*migrator._state_tables, *migrator._optional_state_tables]
    counts = {}
    for table in tables:
        if _table_exists(migrator.engine_adapter, table):
            (rows,) = fetchone(migrator.engine_adapter, exp.select("count(*)").from_(table)) or (0,)
            if rows:
                counts[table.name] = int(rows)
    return counts


def _refuse_if_rows(migrator: StateMigrator, what: str) -> None:
    found = _rows_without_version(migrator)
    if found:
        held = ", ".join(f"{name} {rows} rows" for name, rows in sorted(found.items()))
        raise StateProtected(f"SQLMesh state has no recorded version but holds rows ({held}): not {what}")


_original_migrate = StateMigrator.migrate
_original_rollback = StateMigrator.rollback


def _guarded_migrate(self: StateMigrator, *args: Any, **kwargs: Any) -> None:
    _refuse_if_rows(self, "initializing it as a new project")
    _original_migrate(self, *args, **kwargs)


def _guarded_rollback(self: StateMigrator) -> None:
    # Version 0 makes rollback drop every state table: only a new state's (empty) tables may go.
    _refuse_if_rows(self, "dropping its tables")
    _original_rollback(self)


def install() -> None:
    """Put the strict reads in place (idempotent; the project's config.py and churnmesh call it)."""
    VersionState.get_versions = _strict_get_versions  # type: ignore[method-assign]
    StateMigrator.migrate = _guarded_migrate  # type: ignore[method-assign]
    StateMigrator.rollback = _guarded_rollback  # type: ignore[method-assign]


# ---------------------------------------------------------------- the sqlmesh CLI's writer lock

_cli_lock = ExitStack()  # entered once per `sqlmesh` process, released by the kernel at its exit


def _sqlmesh_subcommand() -> str | None:
    """The subcommand when this process is the `sqlmesh` CLI loading the project, else None."""
    if "sqlmesh.cli.main" not in sys.modules:
        return None
    import click
    from sqlmesh.cli.main import cli

    context = click.get_current_context(silent=True)
    if context is None or context.find_root().command is not cli:
        return None
    return context.invoked_subcommand or ""


def hold_for_sqlmesh_cli() -> None:
    """In the `sqlmesh` CLI: hold the warehouse writer lock until the command exits, waiting for a
    churnmesh run as churnmesh commands do; busy past the wait, stop with one line (exit 75)."""
    subcommand = _sqlmesh_subcommand()
    if subcommand is None or subcommand in LOCAL_ONLY_COMMANDS or _cli_lock._exit_callbacks:
        return
    command = " ".join(part for part in ("sqlmesh", subcommand) if part)
    try:
        _cli_lock.enter_context(locking.writer_lock(data_paths(), command, program=None))
    except locking.WarehouseBusy as exc:
        # `sqlmesh` has no --wait-seconds option: the environment variable is the way to wait longer.
        print(f"{command}: {str(exc).replace('--wait-seconds or ', '')}", file=sys.stderr)
        raise SystemExit(BUSY_EXIT) from None


def project_config(config_py: str) -> Config:
    """The project's SQLMesh config: the settings in project.yaml beside `config_py`, read the
    way SQLMesh reads a config.yaml (environment variables rendered, model defaults checked)."""
    settings = Path(config_py).resolve().parent / PROJECT_SETTINGS
    return load_config_from_paths(Config, project_paths=[settings], load_from_env=False)
