"""Children that end with their parent, with real processes: a child forked while the writer lock
is held neither keeps the lock nor outlives its parent; a spawned program dies with the process
that spawned it; a server recorded by a dead command is stopped by the next one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from churnmesh import lifetime, locking
from churnmesh.settings import DataPaths

GONE_SECONDS = 5.0

# Takes the writer lock, forks (as SQLMesh's loader does), prints both pids and waits to be killed.
FORK_UNDER_LOCK = """
import os, sys, time
from pathlib import Path
from churnmesh.locking import writer_lock
from churnmesh.settings import DataPaths
with writer_lock(DataPaths(Path(sys.argv[1])), "pipeline", 0):
    child = os.fork()
    if child == 0:
        time.sleep(600)
        os._exit(0)
    print(os.getpid(), child, flush=True)
    time.sleep(600)
"""

# Spawns a long sleep as a child that dies with it, prints its pid and waits to be killed.
SPAWN = """
import os, sys, time
from pathlib import Path
from churnmesh import lifetime
folder = Path(sys.argv[1])
child = lifetime.spawn(["/bin/sleep", "600"], folder / "sleep.log", dict(os.environ), folder / "sleep.json")
print(child.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead child its parent has not reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_SECONDS
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def _start(script: str, *args: str) -> tuple[subprocess.Popen, list[int]]:
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, [int(pid) for pid in process.stdout.readline().split()]


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_a_child_forked_under_the_writer_lock_neither_keeps_it_nor_outlives_its_parent(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "data")
    process, (parent, child) = _start(FORK_UNDER_LOCK, str(paths.root))
    try:
        time.sleep(0.3)  # the child has closed its copy of the descriptor by now
        assert _running(child)
        try:
            with locking.writer_lock(paths, "test", 0):
                raise AssertionError("the parent's lock was released when the child closed its copy")
        except locking.WarehouseBusy as busy:
            assert f"pid {parent}" in str(busy)
    finally:
        _kill(process)
    assert _gone(child), "the forked child outlived its parent"
    with locking.writer_lock(paths, "test", 1):
        pass


def test_a_spawned_program_dies_with_the_process_that_spawned_it(tmp_path: Path) -> None:
    process, (child,) = _start(SPAWN, str(tmp_path))
    try:
        assert _running(child) and os.getpgid(child) == child, "the program leads its own process group"
    finally:
        _kill(process)
    assert _gone(child)


def test_a_program_recorded_by_a_dead_process_is_stopped_by_the_next_spawn(tmp_path: Path) -> None:
    """Where the kernel cannot end the child with its parent, the record of the dead parent's child
    lets the next spawn stop it; a record of a live parent's child is left alone."""
    dead_parent = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    orphan = subprocess.Popen(["/bin/sleep", "600"], start_new_session=True)
    record = tmp_path / "server.json"
    try:
        record.write_text(json.dumps({"pid": orphan.pid, "started": lifetime.start_time(orphan.pid), "parent": 1}))
        lifetime.stop_leftover(record)
        assert orphan.poll() is None and record.exists(), "the parent (pid 1) is alive: its child is left alone"
        details = {"pid": orphan.pid, "started": lifetime.start_time(orphan.pid), "parent": int(dead_parent.stdout)}
        record.write_text(json.dumps(details))
        lifetime.stop_leftover(record)
        assert orphan.wait(timeout=GONE_SECONDS) == -signal.SIGKILL and not record.exists()
    finally:
        if orphan.poll() is None:
            _kill(orphan)
