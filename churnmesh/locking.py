"""One writer at a time: an advisory lock on a file next to the warehouse.

DuckDB lets one process open a database file for writing, and while it does, every other open
(even read-only) fails with an IOException. churnmesh commands that write the warehouse or SQLMesh
state take an exclusive `flock` on `<data dir>/warehouse.lock` first and keep it for the whole
command, so a second run waits (up to `--wait-seconds`, default CHURNMESH_LOCK_WAIT_SECONDS or 60)
or stops with a message naming the holder, instead of failing halfway with DuckDB's error.
`churnmesh query` takes a shared lock, briefly, so it never makes a running writer fail either.

The kernel releases a flock when no descriptor of its open file is left, however the holder
exits (SIGKILL included). A forked child gets a copy of the descriptor, and the lock with it:
SQLMesh's project-loading workers, orphaned by a killed run, would hold it for ever. So every
child forked from a process of this module closes its copy at once (closing a copy leaves the
parent's lock in place) and dies with its parent (churnmesh.lifetime); a program started with
exec never sees the descriptor (O_CLOEXEC). A crashed run therefore never leaves a stale lock.

The file's content (pid, command, start time) is only there for the message; it is rewritten by
every holder. The lock is re-entrant within a process: the CLI takes it before starting a flow,
and the flow's own acquisition is then a no-op.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from churnmesh import lifetime, parameters
from churnmesh.settings import DataPaths, data_paths

if TYPE_CHECKING:
    from churnmesh.commands import Command

WAIT_ENV = "CHURNMESH_LOCK_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 60
LOCK_FILE = "warehouse.lock"
BUSY_EXIT = 75  # EX_TEMPFAIL: the run did nothing; retrying later is the fix
POLL_SECONDS = 0.2
# DuckDB's message when another process holds the file: "... Conflicting lock is held in X (PID N) ..."
DUCKDB_LOCK_ERROR = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)
DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


# The CLI commands that open the warehouse or the SQLMesh state for writing (`model list` and
# `model live` read the state, but DuckDB opens it for writing). `query` reads under reader_lock.


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse; nothing was done. The message says who and what to do."""


@dataclass
class _Held:
    fd: int
    depth: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def _close_inherited_locks() -> None:
    """In a forked child: close its copies of the lock descriptors; the parent keeps the locks.
    The child has one thread, so the guard (perhaps held by another thread at the fork) is new."""
    global _guard
    _guard = threading.Lock()
    for held in list(_held.values()):
        with suppress(OSError):
            os.close(held.fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)
lifetime.end_forked_children_with_this_process()


def lock_path(paths: DataPaths) -> Path:
    return paths.root / LOCK_FILE


def default_wait_seconds() -> int:
    """CHURNMESH_LOCK_WAIT_SECONDS, else 60: long enough to ride out a short command, short
    enough that a run started by mistake next to a long refresh says so within a minute."""
    configured = os.environ.get(WAIT_ENV)
    if configured is None:
        return DEFAULT_WAIT_SECONDS
    return parameters.wait_seconds(configured, WAIT_ENV)


def command_lock(command: Command, wait_seconds: float | None) -> AbstractContextManager[None]:
    """The writer lock a CLI command needs: none unless it is declared to write the warehouse."""
    if not command.writes_warehouse:
        return nullcontext()
    return writer_lock(data_paths(), command.name, wait_seconds)


def holder(paths: DataPaths) -> dict[str, object]:
    """Who wrote the lock file last (the current holder while the lock is held)."""
    try:
        return json.loads(lock_path(paths).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(info: dict[str, object]) -> str:
    if not info:
        return "another churnmesh run holds the warehouse"
    # A `sqlmesh` command at the repo root takes the same lock (state_guard.hold_for_sqlmesh_cli).
    who = "a sqlmesh command" if str(info.get("command", "")).startswith("sqlmesh") else "another churnmesh run"
    return (
        f"{who} holds the warehouse (pid {info.get('pid', '?')}, "
        f"{info.get('command', 'churnmesh')}, started at {info.get('started_at', '?')})"
    )


@contextmanager
def writer_lock(
    paths: DataPaths, command: str, wait_seconds: float | None = None, program: str | None = "churnmesh"
) -> Iterator[None]:
    """Hold the warehouse exclusively for the block; wait up to `wait_seconds` for it, then raise
    WarehouseBusy. Re-entrant within a process. `command` is recorded for the message, after
    `program` (None: `command` names its program itself)."""
    command = f"{program} {command}" if program else command
    wait = default_wait_seconds() if wait_seconds is None else wait_seconds
    key = lock_path(paths).resolve()
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield
        finally:
            _release(key)
        return
    fd = _acquire(paths, fcntl.LOCK_EX, wait, command)
    with _guard:
        _held[key] = _Held(fd, 1)
    try:
        _record(fd, command)
        _wait_for_other_programs(paths, wait)
        yield
    finally:
        _release(key)


def _release(key: Path) -> None:
    with _guard:
        held = _held[key]
        held.depth -= 1
        if held.depth:
            return
        del _held[key]
    try:
        os.ftruncate(held.fd, 0)  # the holder's details are stale from here on
    finally:
        os.close(held.fd)  # closing the descriptor releases the flock


def _acquire(paths: DataPaths, mode: int, wait: float, command: str, create: bool = True) -> int:
    path = lock_path(paths)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC (Python's default): a program a child execs never inherits the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644) if create else os.open(path, os.O_RDONLY)
    deadline = time.monotonic() + wait
    announced = False
    attempts = 0
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            attempts += 1
            if time.monotonic() >= deadline:
                os.close(fd)
                raise WarehouseBusy(_busy_message(paths, wait)) from None
            # From the second attempt: a holder that has just taken the lock has written its details.
            if not announced and attempts > 1 and mode == fcntl.LOCK_EX and wait >= 1:
                print(f"{command}: waiting up to {wait:g} s: {describe_holder(holder(paths))}", file=sys.stderr)
                announced = True
            time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise


def _busy_message(paths: DataPaths, wait: float) -> str:
    info = holder(paths)
    if not info:  # the holder took the lock a moment ago and is writing its details
        time.sleep(POLL_SECONDS)
        info = holder(paths)
    waited = f" (waited {wait:g} s; --wait-seconds or ${WAIT_ENV} to wait longer)" if wait else ""
    return f"{describe_holder(info)}; retry later{waited}"


def _record(fd: int, command: str) -> None:
    started = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    content = json.dumps({"pid": os.getpid(), "command": command, "started_at": started})
    os.ftruncate(fd, 0)
    os.pwrite(fd, (content + "\n").encode(), 0)


def _wait_for_other_programs(paths: DataPaths, wait: float) -> None:
    """Programs that do not take the lock (a BI tool, a `sqlmesh` CLI) can still hold a DuckDB
    file; the run would then fail halfway with DuckDB's error. Check up front and wait for them
    too, then say which process holds the file."""
    deadline = time.monotonic() + wait
    for database in (paths.warehouse, paths.state):
        while database.exists():
            error = _open_error(database)
            if error is None:
                break
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{database.name} is open in another program ({_duckdb_holder(error)}); "
                    "close it (or its connection in your SQL client) and retry"
                )
            time.sleep(POLL_SECONDS)


def _open_error(database: Path) -> str | None:
    import duckdb  # here, not at the top: the command line imports this module and most commands never open DuckDB

    try:
        duckdb.connect(str(database)).close()
    except duckdb.IOException as exc:
        if DUCKDB_LOCK_ERROR.search(str(exc)):
            return str(exc)
        raise
    return None


def _duckdb_holder(message: str) -> str:
    match = DUCKDB_HOLDER.search(message)
    return f"pid {match.group(2)}, {match.group(1)}" if match else "DuckDB: " + message.splitlines()[0]


@contextmanager
def reader_lock(paths: DataPaths, wait_seconds: float) -> Iterator[None]:
    """Share the warehouse with other readers for the block; WarehouseBusy if a writer keeps it
    longer than `wait_seconds`. Readers hold it for milliseconds, so a writer never fails on them."""
    key = lock_path(paths).resolve()
    with _guard:
        mine = key in _held  # this process writes: reading through it is safe
    # A reader creates nothing: without a lock file no churnmesh writer has run here, and one that
    # starts now waits for this reader's DuckDB connection before it opens the file itself.
    if mine or not key.is_file():
        yield
        return
    fd = _acquire(paths, fcntl.LOCK_SH, wait_seconds, "churnmesh query", create=False)
    try:
        yield
    finally:
        os.close(fd)


def is_lock_error(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.IOException) and bool(DUCKDB_LOCK_ERROR.search(str(exc)))
