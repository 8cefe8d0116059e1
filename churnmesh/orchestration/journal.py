"""The run journal: a line when a flow run starts and a line when it ends, in
`<data dir>/runs/journal.jsonl`.

Prefect keeps its flow runs behind its API, in a database that belongs to whichever server ran
them; `churnmesh status` answers from the data folder alone, without a server. The flows' state
hooks write the journal: "RUNNING" when a run starts, then its final state (COMPLETED, FAILED,
CRASHED, CANCELLED) with the state's message. A run whose last record is RUNNING ended without a
final hook: it is still running, or its process was killed.
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
        state=str(getattr(getattr(state, "type", None), "value", RUNNING)),
        message=message[:MESSAGE_LIMIT],
        at=timestamp.isoformat(timespec="seconds") if isinstance(timestamp, datetime) else "",
    )
    jsonl.append(journal_path(paths), entry.__dict__)


def runs(paths: DataPaths) -> list[RunRecord]:
    """Each run's latest record, in the order the runs started."""
    latest: dict[str, RunRecord] = {}
    fields = set(RunRecord.__dataclass_fields__)
    for entry in jsonl.records(journal_path(paths)):
        if fields <= set(entry):
            run = RunRecord(**{k: str(entry[k]) for k in fields})
            latest[run.run_id] = run  # dicts keep the first insertion's position: the start order
    return list(latest.values())


def started_at(paths: DataPaths, run_id: str) -> str | None:
    for entry in jsonl.records(journal_path(paths)):
        if entry.get("run_id") == run_id and entry.get("state") == RUNNING:
            return str(entry.get("at"))
    return None
