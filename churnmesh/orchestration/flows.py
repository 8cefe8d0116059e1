"""Prefect flows over the package: the daily refresh (ingest, SQLMesh run, alerts, report, summary).

Tasks are thin: the work is done by churnmesh functions that the tests also call directly. Each
SQLMesh model batch a flow evaluates is a task run of its own (model_runs.py).

A daily refresh that ran on stale data (a source behind the freshness allowance, or a scheduled
run whose day the data watermark does not reach) ends Failed with the state name "Stale": its
marts are published and its alerts sent, and its state message says what is stale. Calling the
flow raises StaleRun, which carries the run's result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Failed, State
from prefect.tasks import exponential_backoff

from churnmesh import data_quality, locking, parameters, publication, report, watermark
from churnmesh.faults import crash_point
from churnmesh.ingestion import FileOutcome, ingest
from churnmesh.orchestration import journal
from churnmesh.orchestration.alerts import data_alerts, high_risk_transitions
from churnmesh.orchestration.model_runs import ModelTaskRuns
from churnmesh.orchestration.notify import Alert, Ledger, configured_channel, deliver, notifications_dir
from churnmesh.orchestration.operations import backfill, review_change, run_audits
from churnmesh.orchestration.quality_alerts import quality_alerts
from churnmesh.orchestration.refresh import WarehouseRefreshFailed, describe_failure, refresh_warehouse
from churnmesh.orchestration.server import UI_URL_ENV
from churnmesh.orchestration.summary import run_summary_markdown, top_at_risk
from churnmesh.scoring.train_warehouse import train_from_warehouse
from churnmesh.settings import DataPaths, business_definitions, safe_run_name

# The global concurrency limit (one slot) every warehouse-writing flow holds where several runs
# share a server: the served deployments (deployments.py creates it). A command's own temporary
# server runs one flow, and the file lock (locking.py) serialises writers everywhere.
WAREHOUSE_LIMIT = "churnmesh-warehouse"
# A killed run's slot comes free after this long (a live run renews its lease).
WAREHOUSE_LEASE_SECONDS = 60
TIMEZONE_ENV = "CHURNMESH_TIMEZONE"  # the schedules' time zone (default UTC)
STALE = "Stale"  # the state name of a daily refresh that ran on stale data
STALE_KINDS = ("freshness", "schedule_gap")


def ensure_warehouse_limit() -> None:
    """The warehouse limit on the configured server, created once (read first: a create that
    conflicts is logged by the server as an error)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists

    if _limit_exists():
        return
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=WAREHOUSE_LIMIT, limit=1))


def _limit_exists() -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(WAREHOUSE_LIMIT)
        except ObjectNotFound:
            return False
    return True


@contextlib.contextmanager
def warehouse_slot() -> Iterator[None]:
    """The warehouse limit's one slot, where the limit exists (else Prefect would warn, and
    create nothing, on every acquisition)."""
    if not _limit_exists():
        yield
        return
    with concurrency(WAREHOUSE_LIMIT, occupy=1, lease_duration=WAREHOUSE_LEASE_SECONDS):
        yield


class StaleRun(RuntimeError):
    """A daily refresh that completed its work on stale data (the state it ends in is named Stale)."""

    def __init__(self, run: dict[str, object]) -> None:
        self.run = run
        super().__init__(stale_message(run))


def stale_message(run: dict[str, object]) -> str:
    reasons = [str(r) for r in run.get("stale") or []]
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    return f"published as of {run['as_of']} on stale data: {shown}"


def stale_reasons(alerts: list[Alert]) -> list[str]:
    """What made a run stale: its freshness and schedule-gap alerts, by title."""
    return [a.title for a in alerts if a.kind in STALE_KINDS]


def schedule_gap(as_of: date, flow_run: object) -> list[Alert]:
    """For a run the schedule started: an alert when the data watermark stops before the day the
    run was scheduled to cover (the day before its start, in the schedules' time zone)."""
    expected = getattr(flow_run, "expected_start_time", None)
    if not getattr(flow_run, "auto_scheduled", False) or expected is None:
        return []
    due = expected.astimezone(ZoneInfo(os.environ.get(TIMEZONE_ENV, "UTC"))).date() - timedelta(days=1)
    if as_of >= due:
        return []
    title = (
        f"scheduled run for {due} ran as of {as_of}: the data watermark is {(due - as_of).days} day(s) "
        f"behind, so {as_of + timedelta(days=1)} to {due} were not refreshed"
    )
    return [Alert(due, "schedule_gap", "daily-refresh", title, data={"as_of": as_of.isoformat(), "due": str(due)})]


def run_name() -> str:
    """A flow run's name: the flow, the dates it was given and a short unique tail, e.g.
    "daily-refresh 2026-11-30 otter" or "backfill 2026-11-01..2026-11-30 otter" (the tail: the last
    word of the name Prefect drew)."""
    given = current_flow_run.parameters or {}
    flow_name = current_flow_run.flow_name or "run"
    drawn = str(current_flow_run.name or "")
    tail = (drawn.split()[-1] if " " in drawn else drawn.rsplit("-", 1)[-1]) or "run"
    if given.get("start") and given.get("end"):
        what = f"{given['start']}..{given['end']}"
    else:
        what = str(given.get("as_of") or given.get("environment") or "latest")
    return f"{flow_name} {what} {tail}"


def name_for_day(as_of: date) -> None:
    """A run given no date ("daily-refresh latest otter") takes the name of the day it runs
    for, the data watermark, once that is known."""
    from prefect.client.orchestration import get_client

    flow_run: Any = current_flow_run_object()
    if flow_run is None or " latest " not in f" {flow_run.name} ":
        return
    named = flow_run.name.replace(" latest ", f" {as_of} ", 1)
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=named)
    flow_run.name = named  # the context's run: the hooks, the journal and the summary see the name


def default_as_of(paths: DataPaths, given: date | None, what: str = "as-of date") -> date:
    """The as-of date of a flow: the one given, if the data covers it; else the data watermark.
    Raises AheadOfData (one line naming the watermark and the newest files) otherwise."""
    return watermark.check_as_of(given, watermark.of_warehouse(paths.warehouse), what)


def _refused(exc: Exception) -> State:
    """A run that stops before it changes anything: a failed state with a one-line message, not a
    traceback (Prefect shows it as the run's state message; the CLI prints it)."""
    get_run_logger().error("%s", exc)
    return Failed(message=str(exc))


@task(name="ingest-new-files", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=10))
def ingest_new_files(paths: DataPaths) -> dict[str, object]:
    report = ingest(paths.landing, paths.warehouse)
    summary = {
        "files_loaded": report.count("loaded"),
        "files_rejected": report.count("rejected"),
        "files_skipped": report.count("skipped"),
        "files_refused": [o.file_path for o in report.refused],
        # Named in the run summary: which files of this run loaded nothing, and why.
        "rejected_whole": [_named(o) for o in report.outcomes if o.status == "rejected"],
        "refused": [_named(o) for o in report.refused],
        "rows_in": report.total("rows_in"),
        "rows_loaded": report.total("rows_loaded"),
        "rows_quarantined": report.total("rows_rejected"),
        "rows_duplicate": report.total("rows_duplicate"),
    }
    get_run_logger().info("ingestion: %s", json.dumps(summary))
    return summary


def _named(outcome: FileOutcome) -> dict[str, object]:
    return {"file": outcome.file_path, "reason": outcome.reason}


# No retries: a failed audit is a data problem; running it again unchanged fails the same way.
@task(name="sqlmesh-run")
def run_warehouse(paths: DataPaths, as_of: date, project: Path) -> dict[str, object] | State:
    try:
        result = refresh_warehouse(paths, as_of, project=project, listener=ModelTaskRuns())
    except WarehouseRefreshFailed as failure:
        publish_evaluations(failure.evaluations, as_of)
        # A state, not a raise: the task run's message is the failure, without a traceback in the
        # log (a data problem, named in full); the flow reads the failure from the state.
        return Failed(message=str(failure), data=failure)
    get_run_logger().info("sqlmesh: %s for %s (prod plan applied first: %s)", result.status, as_of, result.planned_prod)
    publish_evaluations(result.evaluations, as_of)
    return asdict(result)


@task(name="publish-for-readers")
def publish_for_readers(paths: DataPaths) -> str | None:
    """Copy prod's marts to the file the dashboard and the MCP server read (publication.py)."""
    published = publication.publish(paths)
    if published is None:
        return None
    get_run_logger().info("published prod as of %s for readers: %s", published.as_of, published.path)
    return str(published.path)


def publish_evaluations(evaluations: list[dict[str, object]], as_of: date) -> None:
    """Every model batch SQLMesh evaluated as one table artifact (each batch is also a task run,
    and its line is in the run's log)."""
    if evaluations:
        create_table_artifact(
            key="sqlmesh-evaluations", table=evaluations, description=f"SQLMesh model evaluations for {as_of}"
        )


@task(name="check-data-quality")
def check_data_quality(paths: DataPaths, as_of: date) -> dict[str, object]:
    """Alerts on the files themselves (rejected whole, quarantine spikes, field health), sent
    before SQLMesh updates the marts, and the state the marts of `as_of` are published with."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        alerts = quality_alerts(con, as_of)
        state, findings = data_quality.quality_state(con, as_of)
    finally:
        con.close()
    delivery = send_notifications.fn(paths, alerts)
    if state != data_quality.TRUSTED:
        get_run_logger().warning("the marts as of %s are flagged %s: %s", as_of, state, json.dumps(findings))
    # The summary lists the alerts about the days the run recomputes, and any older one sent now
    # (the whole history's rejected files would bury the day's).
    first, last = data_quality.health_window(as_of, int(business_definitions()["late_data_lookback_days"]))
    sent = {*delivery["delivered"], *delivery["undelivered"]}
    titles = [a.title for a in alerts if first <= a.as_of <= last or a.ledger_key in sent]
    return {"state": state, "findings": findings, "alerts": titles, "delivery": delivery}


@task(name="collect-alerts")
def collect_alerts(paths: DataPaths, as_of: date) -> list[Alert]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return [*high_risk_transitions(con, as_of), *data_alerts(con, as_of)]
    finally:
        con.close()


@task(name="send-notifications")
def send_notifications(paths: DataPaths, alerts: list[Alert]) -> dict[str, list[str]]:
    channel = configured_channel(paths)
    report = deliver(alerts, channel, Ledger(notifications_dir(paths) / "ledger.jsonl"))
    get_run_logger().info(
        "notifications through the %s: %d delivered, %d already sent, %d undelivered",
        channel.name,
        len(report.delivered),
        len(report.already_sent),
        len(report.undelivered),
    )
    return asdict(report)


@task(name="write-daily-report")
def write_daily_report(paths: DataPaths, as_of: date, run_name: str) -> str | None:
    """The self-contained HTML report of the publication just written (report.py), linked as an artifact."""
    try:
        written = report.write_report(paths, as_of, run_name)
    except report.PublicationMismatch as exc:
        # A rerun of a day prod has already moved past: a report named for it would show another day.
        get_run_logger().warning("no daily report for %s: %s", as_of, exc)
        return None
    create_link_artifact(
        key="daily-report", link=written.as_uri(), link_text=written.name, description=f"Daily report {as_of}"
    )
    get_run_logger().info("daily report: %s", written)
    return str(written)


def summary_path(paths: DataPaths, as_of: date, run_name: str) -> Path:
    """Each run keeps its own summary: the as-of date and the flow run's name are in the file name."""
    return paths.outputs / f"daily_refresh_{as_of.isoformat()}_{safe_run_name(run_name)}.md"


@task(name="publish-summary")
def publish_summary(paths: DataPaths, as_of: date, run: dict[str, object]) -> str:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        markdown = run_summary_markdown(con, as_of, run)
        top = top_at_risk(con, as_of, 20)
    finally:
        con.close()
    create_markdown_artifact(key="daily-refresh-summary", markdown=markdown, description=f"Daily refresh {as_of}")
    if top:
        create_table_artifact(key="top-revenue-at-risk", table=top, description=f"Top 20 by revenue at risk, {as_of}")
    report = summary_path(paths, as_of, str(run.get("run_name") or "run"))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown)
    return str(report)


def _audit_alerts(as_of: date, failure: WarehouseRefreshFailed) -> list[Alert]:
    return [
        Alert(
            as_of,
            "audit_failure",
            f"{f.get('model')}|{f.get('audit')}" if "audit" in f else "run",
            f"blocking audit {f['audit']} failed on {f['model']}: {f['failing_rows']} rows"
            if "audit" in f
            else f"warehouse run for {as_of} failed: {describe_failure(f)}",
            data=dict(f),
        )
        for f in failure.failures or [{"error": str(failure)}]
    ]


@dataclass(frozen=True)
class _RunGiven:
    """A flow run's data folder and dates, checked as the flow itself checks them: InvalidParameter
    for refused ones (nothing ran, and there is no trusted folder to write to)."""

    paths: DataPaths
    start: date | None
    end: date | None
    as_of: date | None

    @classmethod
    def of(cls, flow_run: object) -> _RunGiven:
        given = getattr(flow_run, "parameters", {}) or {}
        return cls(
            parameters.data_dir(given.get("data_dir")),
            parameters.optional_date(given.get("start"), "start"),
            parameters.optional_date(given.get("end"), "end"),
            parameters.optional_date(given.get("as_of"), "as_of"),
        )

    def period(self, default: object) -> str:
        return f"{self.start} to {self.end}" if self.start and self.end else str(self.as_of or default)


def _alert_failed_run(flow: object, flow_run: object, state: object) -> None:
    """Flow hook for a failed or crashed run: one alert per flow and as-of date, with the error's
    message, the run's own dates and a link to the run. A stale run has alerted already."""
    if getattr(state, "name", None) == STALE:
        return
    name = getattr(flow, "name", "flow")
    try:
        given = _RunGiven.of(flow_run)
    except parameters.InvalidParameter as exc:
        logging.getLogger("churnmesh.flows").warning("%s refused its parameters: %s", name, exc)
        return
    as_of = _alert_date(given.paths, given.end or given.as_of, flow_run)
    outcome = getattr(getattr(state, "type", None), "value", "FAILED").lower()
    title = f"{name} for {given.period(as_of)} {outcome}: {failure_message(state)}"
    lines = (f"flow run: {getattr(flow_run, 'name', '')}", *run_link(flow_run))
    alert = Alert(as_of, "run_failed", name, title, lines)
    deliver([alert], configured_channel(given.paths), Ledger(notifications_dir(given.paths) / "ledger.jsonl"))


# Prefect's preamble to the message of a run that raised ("... exception: KindError: text").
_RAISED = re.compile(r"^(Flow|Task) run encountered an exception: ")
MESSAGE_LIMIT = 500


def failure_message(state: object) -> str:
    """The error's own message, on one line: never a traceback, nor Prefect's preamble."""
    message = _RAISED.sub("", str(getattr(state, "message", None) or "")).strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):  # a traceback's last line is its error
        lines = lines[-1:]
    text = " ".join(lines) or "no message"
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def run_link(flow_run: object) -> tuple[str, ...]:
    """The run's page in the Prefect UI, where one is configured (`churnmesh serve` sets it)."""
    ui = os.environ.get(UI_URL_ENV, "").rstrip("/")
    run_id = getattr(flow_run, "id", None)
    return (f"see the run: {ui}/runs/flow-run/{run_id}",) if ui and run_id else ()


def _journal(flow: object, flow_run: object, state: object) -> None:
    """Flow hook for every state a run enters that the journal keeps (journal.py)."""
    try:
        given = _RunGiven.of(flow_run)
    except parameters.InvalidParameter:
        return  # the alert hook logs the refusal
    journal.record(given.paths, getattr(flow, "name", "flow"), flow_run, state, given.period("the data watermark"))


# Every flow: the journal follows each run; a run that fails or crashes also alerts.
JOURNALED = {"on_running": [_journal], "on_completion": [_journal], "on_cancellation": [_journal]}
ALERTED = {"on_failure": [_journal, _alert_failed_run], "on_crashed": [_journal, _alert_failed_run]}


def _alert_date(paths: DataPaths, given: date | None, flow_run: object) -> date:
    """The day a failure alert is filed under: the given as-of date, else the data watermark, else
    (no data at all) the day the run was scheduled for."""
    if given is not None:
        return given
    mark = watermark.of_warehouse(paths.warehouse).day
    if mark is not None:
        return mark
    expected = getattr(flow_run, "expected_start_time", None)
    return expected.date() if expected is not None else date.min


@flow(name="daily-refresh", flow_run_name=run_name, **JOURNALED, **ALERTED)
def daily_refresh(as_of: date | None = None, data_dir: str | None = None, project: str | None = None) -> dict | State:
    """Ingest new landing files, run SQLMesh up to `as_of` (default: the data watermark; a date past
    it is refused), stop on a blocking audit failure, send the day's alerts once, and publish the
    daily HTML report and the run summary. Prod's plan is applied first on an empty warehouse.
    A run on stale data ends Failed, named Stale (the module's docstring)."""
    requested = parameters.optional_date(as_of, "as_of")
    paths, project_root = parameters.data_dir(data_dir), parameters.project_dir(project)
    if not paths.landing.is_dir():
        return _refused(FileNotFoundError(f"no landing folder at {paths.landing}: there is nothing to ingest"))
    # The slot, then the file lock, as in every flow; both span the whole run: the alert ledger
    # and the summary are shared state too.
    with warehouse_slot(), locking.writer_lock(paths, "daily-refresh flow"):
        ingestion = ingest_new_files(paths)
        crash_point("flow.after_ingest")
        try:
            as_of = default_as_of(paths, requested)
        except watermark.AheadOfData as exc:
            return _refused(exc)
        name_for_day(as_of)
        quality = check_data_quality(paths, as_of)
        warehouse = run_warehouse(paths, as_of, project_root, return_state=True)
        if warehouse.is_failed():
            failure = warehouse.result(raise_on_failure=False)
            if not isinstance(failure, WarehouseRefreshFailed):  # an error of the task itself
                return Failed(message=f"sqlmesh-run failed: {failure_message(warehouse)}", data=failure)
            send_notifications(paths, _audit_alerts(as_of, failure))
            return Failed(message=str(failure), data=failure)
        refresh = warehouse.result()
        published = publish_for_readers(paths)
        crash_point("flow.after_warehouse")
        alerts = [*collect_alerts(paths, as_of), *schedule_gap(as_of, current_flow_run_object())]
        delivery = send_notifications(paths, alerts)
        # One account of the run's deliveries: the file alerts went out first, before SQLMesh ran.
        delivery = {k: [*quality["delivery"][k], *sent] for k, sent in delivery.items()}
        run_name = current_flow_run.name or "run"
        run = {
            "as_of": as_of.isoformat(),
            "watermark": watermark.of_warehouse(paths.warehouse).describe(),
            "run_name": run_name,
            "nothing_new": _nothing_new(ingestion, refresh),
            "ingestion": ingestion,
            "refresh": refresh,
            "data_quality": quality,
            "alerts": [*quality["alerts"], *(a.title for a in alerts)],
            "delivery": delivery,
            # None while prod has no marts: there is nothing published to report on
            "html_report": write_daily_report(paths, as_of, run_name) if published else None,
            "stale": stale_reasons(alerts),
        }
        run["report"] = publish_summary(paths, as_of, run)
    if run["stale"]:
        get_run_logger().warning("%s", stale_message(run))
        return Failed(name=STALE, message=stale_message(run), data=StaleRun(run))
    return run


def current_flow_run_object() -> object:
    """The flow run being run (its schedule fields), or None outside one."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run if context else None


def _nothing_new(ingestion: dict[str, object], refresh: dict[str, object]) -> bool:
    """No new file and no model batch to run: prod was already at the as-of date."""
    return not (ingestion["files_loaded"] or refresh["planned_prod"] or refresh["evaluations"] or refresh["restated"])


@flow(name="backfill", flow_run_name=run_name, **JOURNALED, **ALERTED)
def backfill_flow(
    start: date,
    end: date,
    models: list[str] | None = None,
    restate: bool = False,
    data_dir: str | None = None,
    project: str | None = None,
) -> dict | State:
    """Missing intervals from start to end through SQLMesh, or (restate) a recomputation of the
    given models and everything downstream over those dates. An end past the data watermark is
    refused."""
    start, end = parameters.iso_date(start, "start"), parameters.iso_date(end, "end")
    models, restate = parameters.model_names(models, "models"), parameters.flag(restate, "restate")
    paths, project_root = parameters.data_dir(data_dir), parameters.project_dir(project)
    try:
        default_as_of(paths, end, "backfill end")
    except watermark.AheadOfData as exc:
        return _refused(exc)
    with warehouse_slot(), locking.writer_lock(paths, "backfill flow"):
        result = backfill(paths, start, end, models, restate, project_root, ModelTaskRuns())
        publish_for_readers(paths)
    publish_evaluations(result.evaluations, end)
    get_run_logger().info("backfill %s to %s: %d model batches", start, end, len(result.evaluations))
    return asdict(result)


@flow(name="review-change", flow_run_name=run_name, **JOURNALED, on_failure=[_journal], on_crashed=[_journal])
def review_change_flow(environment: str = "dev", data_dir: str | None = None, project: str | None = None) -> str:
    """Plan the project into an environment and compare its changed marts with prod (Markdown
    artifact). Promotion to prod is a separate, explicit plan."""
    environment = parameters.environment(environment, allow_prod=False, what="environment")
    paths, project_root = parameters.data_dir(data_dir), parameters.project_dir(project)
    with warehouse_slot(), locking.writer_lock(paths, "review-change flow"):
        markdown = review_change(paths, environment, project_root)
    create_markdown_artifact(key="change-review", markdown=markdown, description=f"{environment} against prod")
    return markdown


@flow(name="train-churn-model", flow_run_name=run_name, **JOURNALED, **ALERTED)
def train_churn_model(as_of: date | None = None, data_dir: str | None = None) -> dict | State:
    """Train a churn model version on outcomes up to `as_of`; switching prod to it is a reviewed plan."""
    paths = parameters.data_dir(data_dir)
    try:
        as_of = default_as_of(paths, parameters.optional_date(as_of, "as_of"))
    except watermark.AheadOfData as exc:
        return _refused(exc)
    name_for_day(as_of)
    with warehouse_slot(), locking.writer_lock(paths, "train-churn-model flow"):
        trained = train_from_warehouse(paths, as_of)
    create_markdown_artifact(
        key="churn-model-card", markdown=(trained.folder / "card.md").read_text(), description=trained.version
    )
    return {"version": trained.version, "card": str(trained.folder / "card.md")}


@flow(name="run-audits", flow_run_name=run_name, **JOURNALED, **ALERTED)
def run_audits_flow(as_of: date | None = None, data_dir: str | None = None) -> bool | State:
    """Every audit against the prod tables; fails the run (and alerts) when one fails."""
    paths = parameters.data_dir(data_dir)
    try:
        as_of = default_as_of(paths, parameters.optional_date(as_of, "as_of"))
    except watermark.AheadOfData as exc:
        return _refused(exc)
    name_for_day(as_of)
    # Audits only read, but through SQLMesh, which opens the warehouse and its state for writing.
    with warehouse_slot(), locking.writer_lock(paths, "run-audits flow"):
        passed = run_audits(paths, as_of)
    if not passed:
        raise RuntimeError(f"audits failed for {as_of}: see the SQLMesh output in the run's logs")
    return True
