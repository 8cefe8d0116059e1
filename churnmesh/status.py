"""`churnmesh status`: what state prod is in, read from the data folder alone.

Prod's as-of date and the data watermark come from the warehouse (read-only, under the shared side
of the writer lock: while a run holds the warehouse, status says who holds it and shows the rest),
the churn model that scored prod's marts from the marts themselves, the last run from the run
journal (orchestration/journal.py) and the alerts from the delivery ledger (orchestration/notify.py).
Nothing here needs a Prefect server, SQLMesh or the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from churnmesh import locking, query, watermark
from churnmesh.orchestration import journal
from churnmesh.orchestration.notify import DELIVERED, SENDING, UNDELIVERED, Ledger, notifications_dir
from churnmesh.settings import DataPaths

PENDING_SHOWN = 5


@dataclass
class Status:
    lines: list[str] = field(default_factory=list)
    healthy: bool = True  # False: the last run did not complete, or an alert has not reached anyone


def describe(paths: DataPaths) -> Status:
    status = Status([f"data folder: {paths.root}"])
    _warehouse(paths, status)
    _last_run(paths, status)
    _alerts(paths, status)
    return status


def _warehouse(paths: DataPaths, status: Status) -> None:
    if not paths.warehouse.is_file():
        status.lines.append("prod: no warehouse yet (`churnmesh demo` or `churnmesh pipeline` builds it)")
        return
    try:
        with query.read_only(paths, wait_seconds=0) as con:
            mark = watermark.read(con)
            built = watermark.prod_as_of(con)
            model = query.scored_model_version(con)
    except locking.WarehouseBusy:
        held = locking.describe_holder(locking.holder(paths))
        status.lines.append(f"prod: a run is writing the warehouse now: {held}")
        return
    status.lines.append(f"prod: built as of {built or 'nothing yet'}")
    status.lines.append(mark.describe())
    if mark.day is not None and mark.behind:
        status.lines.append(f"  held back by {', '.join(mark.behind)}: the others have delivered up to {mark.frontier}")
    if built is not None and mark.day is not None and built < mark.day:
        status.lines.append(f"  prod is behind the data: `churnmesh pipeline` brings it to {mark.day}")
    status.lines.append(f"churn model scoring prod: {model or 'none (the marts are scored by no model)'}")


def _last_run(paths: DataPaths, status: Status) -> None:
    runs = journal.runs(paths)
    if not runs:
        status.lines.append("last run: none recorded")
        return
    last, started = runs[-1].latest, runs[-1].started_at
    what = f"{last.flow} '{last.run_name}' for {last.period}"
    if not last.ended:
        status.lines.append(
            f"last run: {what}, started {started}, has not ended: still running, or its process was killed"
        )
        status.healthy = False
        return
    ended = f"{last.state.lower()} at {last.at}" + (f" (started {started})" if started else "")
    status.lines.append(f"last run: {what}, {ended}")
    if last.state != "COMPLETED":
        status.healthy = False
        status.lines.append(f"  {last.message or 'no message'}")


def _alerts(paths: DataPaths, status: Status) -> None:
    latest: dict[str, dict[str, object]] = {}
    for entry in Ledger(notifications_dir(paths) / "ledger.jsonl").records():
        latest[str(entry["key"])] = entry
    delivered = [k for k, e in latest.items() if e["status"] == DELIVERED]
    pending = [(k, e) for k, e in latest.items() if e["status"] in (SENDING, UNDELIVERED)]
    status.lines.append(
        f"alerts: {len(delivered):,} delivered, {len(pending):,} not delivered "
        f"(ledger: {notifications_dir(paths) / 'ledger.jsonl'})"
    )
    for key, entry in pending[-PENDING_SHOWN:]:
        why = entry.get("error") or "the run stopped while sending it; the next run that raises it sends it again"
        status.lines.append(f"  {key}: {why}")
    if pending:
        status.healthy = False
