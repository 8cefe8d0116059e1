"""Crash injection: named points where the crash-safety tests kill the pipeline.

`crash_point("ingest.after_chunk")` does nothing unless the environment variable
CHURNMESH_CRASH_AT names that point. Then the process sends itself SIGKILL, as a power cut or the
out-of-memory killer would: no exception, no `finally`, no flush, no Prefect state change.
`NAME:N` kills the N-th time the point is reached in the process (default: the first).
CHURNMESH_CRASH_TRACE=FILE appends the name of every point reached, one a line, so that a test can
list the points and occurrences of an uninterrupted run before killing at each of them.

CHURNMESH_FAIL_AT=NAME[:N] makes the same point raise OSError(ENOSPC) instead, as a full disk
would inside whatever runs there (a point inside a model's evaluation fails that model), so that
a test can follow a real error's cause to the log, the run's state and the alert.

With none of them set a call costs three environment look-ups. Every point is listed in POINTS:
a name that is not there is a mistake in a test, and fails loudly instead of never firing.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections import Counter

CRASH_ENV = "CHURNMESH_CRASH_AT"
TRACE_ENV = "CHURNMESH_CRASH_TRACE"
FAIL_ENV = "CHURNMESH_FAIL_AT"

# Where each point sits and what a crash there leaves behind.
POINTS: dict[str, str] = {
    "server.starting": "the temporary Prefect server is started, not yet answering; it holds a port and memory",
    "process.after_fork": "a child is forked (SQLMesh's project-loading workers): it has a copy of every open "
    "file of the run, the writer lock's among them",
    "ingest.after_chunk": "a chunk of a landing file is read and staged; its batch's transaction is open",
    "ingest.after_commit": "a batch of files (one source) is committed; later batches are not loaded",
    "flow.after_ingest": "ingestion is complete; the SQLMesh run has not started",
    "sqlmesh.after_batch": "a model batch is written, audited and its interval recorded; later batches are not",
    "sqlmesh.before_finalize": "a plan has recorded the environment and updated its views; the environment is "
    "not finalized, so SQLMesh's run waits for the plan",
    "scoring.churn": "inside the churn scores model's evaluation: upstream models done, no score written",
    "scoring.clv": "inside the CLV model's evaluation: upstream models done, no prediction written",
    "publication.before_swap": "prod's marts are copied beside the last publication; readers still see the last one",
    "flow.after_warehouse": "every model is up to date; no alert has been collected or sent",
    "notify.after_send": "an alert reached the channel; the ledger does not say so yet",
    "notify.after_record": "an alert is recorded as delivered; the next one is not sent",
}

_reached: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Kill this process here if CHURNMESH_CRASH_AT names this point (and occurrence); raise a
    full disk's OSError if CHURNMESH_FAIL_AT does."""
    target = os.environ.get(CRASH_ENV)
    trace = os.environ.get(TRACE_ENV)
    failure = os.environ.get(FAIL_ENV)
    if not target and not trace and not failure:
        return
    with _lock:
        _reached[name] += 1
        occurrence = _reached[name]
        if trace:
            with open(trace, "a", encoding="utf-8") as handle:
                handle.write(name + "\n")
    if target and parse_target(target) == (name, occurrence):
        _die(name, occurrence)
    if failure and parse_target(failure, FAIL_ENV) == (name, occurrence):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def parse_target(target: str, variable: str = CRASH_ENV) -> tuple[str, int]:
    """`NAME` or `NAME:N` -> (NAME, N); rejects unknown names and occurrences below 1."""
    name, _, count = target.strip().partition(":")
    if name not in POINTS:
        raise ValueError(f"{variable}: unknown crash point {name!r} (known: {', '.join(POINTS)})")
    if count and (not count.isdigit() or int(count) < 1):
        raise ValueError(f"{variable}: occurrence must be a whole number from 1, got {count!r}")
    return name, int(count or 1)


def _die(name: str, occurrence: int) -> None:
    # Say where, so a test can tell this kill from a crash somewhere else; then die at once.
    sys.stderr.write(f"churnmesh.faults: SIGKILL at {name}:{occurrence}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
