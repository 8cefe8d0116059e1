"""Child processes that end with the run that started them, however it ends.

A run killed with SIGKILL runs no `finally` and no atexit hook, so what it started has to go by
itself. On Linux the kernel sees to it: a child that asks for it (prctl PR_SET_PDEATHSIG) gets
SIGKILL when its parent dies, and the request survives exec. Two kinds of children ask:

- every process forked from Python (SQLMesh forks workers to load the project) once
  `end_forked_children_with_this_process` has registered its at-fork hook (the writer lock does);
- a program started with `spawn` (the temporary Prefect server), before it execs, in a process
  group of its own, which `stop` ends on a normal exit.

The kernel ties the request to the thread that forked, not its process; both kinds are started by
the thread that then uses or waits for them. Elsewhere, `spawn` records its child in a file, and
the next `spawn` with the same record stops a child whose parent is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from churnmesh.faults import crash_point

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_SECONDS = 30
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_forking_pid = os.getpid()
_registered = False
_records: dict[int, Path] = {}  # pid -> the record `spawn` wrote for it


def die_with_parent(parent: int | None = None) -> None:
    """Ask for SIGKILL when the parent dies; exit now if it already has (`parent`: its pid)."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died before the request was in place: the signal will not come


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _after_fork_in_child() -> None:
    die_with_parent(_forking_pid)


def _after_fork_in_parent() -> None:
    crash_point("process.after_fork")


def end_forked_children_with_this_process() -> None:
    """From now on, every child forked from Python dies with this process (once per process)."""
    global _registered
    if not _registered:
        os.register_at_fork(
            before=_before_fork, after_in_child=_after_fork_in_child, after_in_parent=_after_fork_in_parent
        )
        _registered = True


def spawn(command: Sequence[str], log: Path, env: dict[str, str], record: Path) -> subprocess.Popen:
    """Start `command` (output appended to `log`) as a child that dies with this process, leader of
    its own process group; `record` names it for `stop_leftover` where the kernel cannot help."""
    stop_leftover(record)
    log.parent.mkdir(parents=True, exist_ok=True)
    # Through `main` below, which makes the request and execs: no Python runs between fork and
    # exec in this process, which has threads (Prefect's).
    wrapped = [sys.executable, "-m", __name__, str(os.getpid()), *command]
    with log.open("ab") as output:
        process = subprocess.Popen(wrapped, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    details = {"pid": process.pid, "started": start_time(process.pid), "parent": os.getpid()}
    record.write_text(json.dumps(details) + "\n")
    _records[process.pid] = record
    return process


def stop(process: subprocess.Popen) -> None:
    """End the process group `spawn` started: SIGTERM, then SIGKILL after STOP_SECONDS."""
    try:
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # anything the leader left in its group
    finally:
        record = _records.pop(process.pid, None)
        if record is not None:
            record.unlink(missing_ok=True)


def stop_leftover(record: Path) -> None:
    """Stop the process group a dead run started (as `spawn` recorded it), if it is still there."""
    try:
        recorded = json.loads(record.read_text())
        pid, parent = int(recorded["pid"]), int(recorded["parent"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if _alive(parent):
        return  # a live command's server (`churnmesh serve` next to a flow run)
    # The start time tells the recorded process from a later one that got its pid.
    if start_time(pid) == recorded.get("started"):
        _signal_group(pid, signal.SIGKILL)
    record.unlink(missing_ok=True)


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field (Linux), else None. The name before it may hold spaces."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22; Linux), else None."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _alive(pid: int) -> bool:
    """Running; a killed process its parent has not reaped yet (a zombie) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    return not fields or fields[0] != "Z"


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def main(argv: Sequence[str]) -> None:
    """`python -m churnmesh.lifetime PARENT_PID PROGRAM ARGS...`: die with PARENT_PID, exec PROGRAM."""
    parent, program = int(argv[0]), list(argv[1:])
    die_with_parent(parent)
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
