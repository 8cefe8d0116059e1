"""Child processes that end with the run that started them, however it ends.

A run killed with SIGKILL runs no `finally` and no atexit hook, so what it started has to go by
itself. On Linux the kernel sees to it: a child that asks for it (prctl PR_SET_PDEATHSIG) gets
SIGKILL when its parent dies. Every process forked from Python (SQLMesh forks workers to load the
project) asks, once `end_forked_children_with_this_process` has registered its at-fork hook (the
writer lock does). The kernel ties the request to the thread that forked, not its process; SQLMesh
forks from the thread that then uses the workers and waits for them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from churnmesh.faults import crash_point

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_forking_pid = os.getpid()
_registered = False


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
