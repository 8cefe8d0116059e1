"""The run journal: a line when a flow run starts and a line when it ends, in
`<data dir>/runs/journal.jsonl`.

Prefect keeps its flow runs behind its API, in a database that belongs to whichever server ran
them; `churnmesh status` answers from the data folder alone, without a server. The flows' state
hooks write the journal: "RUNNING" when a run starts, then its final state (COMPLETED, FAILED,
CRASHED, CANCELLED, or STALE for a daily refresh on stale data) with the state's message. A run
whose last record is RUNNING ended without a final hook: still running, or its process was killed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from churnmesh import jsonl
from churnmesh.settings import DataPaths

JOURNAL = "runs/journal.jsonl"
RUNNING = "RUNNING"
MESSAGE_LIMIT = 300  # a state message is one line for a person, not a traceback


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    flow: str
    run_name: str
    period: str  # the as-of date, or "start to end"
    state: str
    message: str
    at: str  # the state's own timestamp, ISO 8601

    @property
    def ended(self) -> bool:
        return self.state != RUNNING


def journal_path(paths: DataPaths) -> Path:
    return paths.root / JOURNAL


def record(paths: DataPaths, flow: str, flow_run: Any, state: Any, period: str) -> None:
    message = " ".join(str(getattr(state, "message", None) or "").split())
    timestamp = getattr(state, "timestamp", None)
    entry = RunRecord(
        run_id=str(getattr(flow_run, "id", "")),
        flow=flow,
        run_name=str(getattr(flow_run, "name", "") or ""),
        period=period,
        state=_state_label(state),
        message=message[:MESSAGE_LIMIT],
        at=timestamp.isoformat(timespec="seconds") if isinstance(timestamp, datetime) else "",
    )
    jsonl.append(journal_path(paths), entry.__dict__)


def _state_label(state: Any) -> str:
    """The state's type, or its name where the name says more (a Failed state named Stale)."""
    label = str(getattr(getattr(state, "type", None), "value", RUNNING))
    name = str(getattr(state, "name", "") or "")
    return name.upper() if name and name.upper() not in (label, RUNNING) and label == "FAILED" else label


@dataclass(frozen=True)
class Run:
    latest: RunRecord  # its last record: its final state, or RUNNING
    started_at: str | None  # the timestamp of its RUNNING record, if one was written


def runs(paths: DataPaths) -> list[Run]:
    """Every run with its latest record and its start, in the order the runs started."""
    latest: dict[str, RunRecord] = {}
    started: dict[str, str] = {}
    fields = set(RunRecord.__dataclass_fields__)
    for entry in jsonl.records(journal_path(paths)):
        if fields <= set(entry):
            found = RunRecord(**{k: str(entry[k]) for k in fields})
            latest[found.run_id] = found  # dicts keep the first insertion's position: the start order
            if not found.ended:
                started.setdefault(found.run_id, found.at)
    return [Run(found, started.get(run_id)) for run_id, found in latest.items()]
