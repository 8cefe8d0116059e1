"""Bringing the warehouse up to an as-of date through SQLMesh, failing loudly on a blocking audit.

`Context.run()` does not raise when a blocking audit fails: it returns a status. A notification
target collects each failure with its model, audit and failing row count, so the caller can stop
and say exactly what failed.

A failed model batch reaches the caller as "PlanError: Plan application failed." (a plan) or a
bare failed status (a run): SQLMesh hands the real error only to the console's
`log_failed_models`, which a silent console drops. EvaluationRecorder keeps it, and every failure
is described by the root of its exception chain, one line with the model it concerns, e.g.
"core.fct_orders: IO Error: No space left on device".

The recorder also reports each model batch as SQLMesh evaluates it: to a BatchListener when one is
given (the flows make each batch a Prefect task run, model_runs.py), else as a progress line on the
`churnmesh.sqlmesh` logger, "[3/39] core.fct_orders 2026-11-28..2026-11-30: 1,204 rows, 0.31 s".
"""

from __future__ import annotations

import logging
import re
import sys
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from pydantic import PrivateAttr
from sqlglot import exp
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.notification_target import GenericNotificationTarget, NotificationEvent, NotificationStatus
from sqlmesh.utils.date import to_date
from sqlmesh.utils.errors import NodeAuditsErrors

from churnmesh.faults import crash_point
from churnmesh.orchestration.late_changes import restate_in
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import execution_time, finish_interrupted_plan, sqlmesh_context

PROGRESS_LOG = logging.getLogger("churnmesh.sqlmesh")


class FailureCollector(GenericNotificationTarget):
    """Keeps the audit and run failures SQLMesh reports during a plan or run."""

    notify_on: frozenset[NotificationEvent] = frozenset(
        {NotificationEvent.AUDIT_FAILURE, NotificationEvent.RUN_FAILURE, NotificationEvent.APPLY_FAILURE}
    )
    _failures: list[dict[str, object]] = PrivateAttr(default_factory=list)

    def send(
        self,
        notification_status: NotificationStatus,
        msg: str,
        audit_error: t.Any = None,
        exc: t.Any = None,
        **_: t.Any,
    ) -> None:
        if audit_error is not None:
            self._failures.append(
                {"model": audit_error.model_name, "audit": audit_error.audit_name, "failing_rows": audit_error.count}
            )
        elif exc is not None:  # SQLMesh sends the formatted traceback: its last line is the error
            error = describe_error(exc) if isinstance(exc, BaseException) else _last_line(str(exc))
            self._failures.append({"error": error})

    @property
    def failures(self) -> list[dict[str, object]]:
        """Audit failures when there are any (the run failure that follows them only says "see the
        console"), else the errors."""
        audits = [f for f in self._failures if "audit" in f]
        return audits or list(self._failures)


# A message that already names its kind ("IO Error: ...", "Binder Error: ...") needs no class name.
NAMED_ERROR = re.compile(r"^[A-Z][A-Za-z ]*(Error|Exception): ")


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of `exc`'s chain (explicit causes first, then the implicit context)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def describe_error(exc: BaseException) -> str:
    """One readable line for the root of `exc`'s chain: its kind and its message. A Python model's
    error carries the model's traceback; its last line is the error itself."""
    root = root_cause(exc)
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    if not lines:
        return type(root).__name__
    text = lines[-1] if type(root).__name__ == "PythonModelEvalError" else lines[0]
    return (
        text
        if NAMED_ERROR.match(text) or text.startswith(f"{type(root).__name__}")
        else f"{type(root).__name__}: {text}"
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _node_name(error: t.Any) -> str:
    node = getattr(error, "node", None)
    name = getattr(node, "snapshot_name", None) or getattr(node, "name", None) or str(node)
    parts = str(name).replace('"', "").split(".")
    return ".".join(parts[-2:])  # schema.model, as every churnmesh message names a model


def describe_failure(failure: dict[str, object]) -> str:
    """One line for a collected failure: an audit's, or an error with the model it concerns."""
    if "audit" in failure:
        return f"{failure['model']}: audit {failure['audit']} failed on {failure['failing_rows']} rows"
    model = failure.get("model")
    return f"{model}: {failure['error']}" if model else str(failure["error"])


class BatchListener(t.Protocol):
    """Told about each model batch as SQLMesh evaluates it (a label is "schema.model D1..D2")."""

    def batches_planned(self, batches: list[str], upstream: dict[str, list[str]]) -> None:
        """Every batch of the evaluation about to run, in SQLMesh's order, and each model's upstream models."""

    def batch_started(self, batch: str) -> None: ...

    def batch_finished(self, evaluation: dict[str, object], failed_audits: list[str], error: str | None) -> None:
        """`evaluation` as EvaluationRecorder records it; `error` when the batch failed."""


def model_label(snapshot: t.Any) -> str:
    """schema.model, as every churnmesh message names a model (the catalog left out)."""
    return ".".join(snapshot.name.replace('"', "").split(".")[-2:])


def batch_label(model: str, first: date, last: date) -> str:
    return f"{model} {first}" if first == last else f"{model} {first}..{last}"


def _days(interval: tuple[t.Any, t.Any]) -> tuple[date, date]:
    """An interval's first and last day (SQLMesh's end is exclusive)."""
    start, end = interval
    first = to_date(start)
    return first, max(first, to_date(end) - timedelta(days=1))


class EvaluationRecorder(NoopConsole):
    """A silent SQLMesh console that keeps one record per model batch evaluated: model,
    interval, duration, rows written and audits passed and failed; and the real error of each
    model that failed (which the plan or run then only calls "failed"). Each batch is also
    reported as it ends: to the listener, else as a progress line."""

    def __init__(self, listener: BatchListener | None = None) -> None:
        super().__init__()
        self.evaluations: list[dict[str, object]] = []
        self.failed_models: list[dict[str, object]] = []
        self._listener = listener
        self._adapter: t.Any = None
        self._pending: dict[str, list[str]] = {}  # each model's batches not yet started, in order
        self._started: dict[str, list[str]] = {}
        self._total = 0
        self._handling_before: BaseException | None = None

    def bind(self, context: t.Any) -> None:
        """Rows are counted through this context's engine."""
        self._adapter = context.engine_adapter

    def log_failed_models(self, errors: list[t.Any]) -> None:
        for error in errors:
            self.failed_models.append({"model": _node_name(error), "error": describe_error(error)})

    def start_evaluation_progress(
        self,
        batched_intervals: dict[t.Any, t.Any],
        environment_naming_info: t.Any,
        default_catalog: str | None,
        audit_only: bool = False,
    ) -> None:
        by_name = {s.name: model_label(s) for s in batched_intervals}
        self._pending = {
            model_label(s): [batch_label(model_label(s), *_days(i)) for i in intervals]
            for s, intervals in batched_intervals.items()
        }
        self._total += sum(len(batches) for batches in self._pending.values())
        upstream = {
            model_label(s): sorted(by_name[p.name] for p in s.parents if p.name in by_name) for s in batched_intervals
        }
        self._tell("batches_planned", [b for batches in self._pending.values() for b in batches], upstream)

    def start_snapshot_evaluation_progress(self, snapshot: t.Any, audit_only: bool = False) -> None:
        self._handling_before = sys.exc_info()[1]
        model = model_label(snapshot)
        pending = self._pending.get(model)
        if pending:
            label = pending.pop(0)
            self._started.setdefault(model, []).append(label)
            self._tell("batch_started", label)

    def update_snapshot_evaluation_progress(
        self,
        snapshot: t.Any,
        interval: t.Any,
        batch_idx: int,
        duration_ms: int | None,
        num_audits_passed: int,
        num_audits_failed: int,
        audit_only: bool = False,
        execution_stats: t.Any = None,
        auto_restatement_triggers: t.Any = None,
    ) -> None:
        first, last = _days(interval)
        model = model_label(snapshot)
        # Called from a `finally`: a failed batch's exception is the one being handled (one the
        # caller was already handling when the batch started is not the batch's).
        raised = sys.exc_info()[1]
        if raised is self._handling_before:
            raised = None
        failed_audits = _failed_audits(raised)
        evaluation: dict[str, object] = {
            "model": model,
            "batch_label": batch_label(model, first, last),
            "interval_start": first.isoformat(),
            "interval_end": last.isoformat(),
            "batch": batch_idx,
            "seconds": round((duration_ms or 0) / 1000, 3),
            "rows": None if raised is not None and not failed_audits else self._rows_written(snapshot, first, last),
            "audits_passed": num_audits_passed,
            "audits_failed": num_audits_failed or len(failed_audits),
        }
        self.evaluations.append(evaluation)
        error = None if raised is None else describe_error(raised)
        if not self._tell("batch_finished", evaluation, failed_audits, error):
            PROGRESS_LOG.info("%s", self.progress_line(evaluation, error))
        crash_point("sqlmesh.after_batch")

    def progress_line(self, evaluation: dict[str, object], error: str | None) -> str:
        """ "[k/n] schema.model D1..D2: 1,204 rows, 0.31 s, 2 audits passed", or the error."""
        done = f"[{len(self.evaluations)}/{max(self._total, len(self.evaluations))}] {evaluation['batch_label']}"
        if error is not None:
            return f"{done}: failed: {error}"
        rows = "" if evaluation["rows"] is None else f"{evaluation['rows']:,} rows, "
        return f"{done}: {rows}{evaluation['seconds']:.2f} s, {evaluation['audits_passed']} audits passed"

    def _rows_written(self, snapshot: t.Any, first: date, last: date) -> int | None:
        """The rows the batch left in its table: an incremental model's rows within the interval,
        a full model's or a seed's whole table; None for views and kinds without a clear count. A count that
        cannot be made never fails the batch."""
        if self._adapter is None or not snapshot.is_model:
            return None
        model = snapshot.model
        try:
            table = exp.to_table(snapshot.table_name())
            query = exp.select(exp.func("count", exp.Star())).from_(table)
            if model.kind.is_incremental_by_time_range:
                column = exp.cast(exp.column(model.time_column.column.name), "date")
                query = query.where(
                    column.between(
                        exp.cast(exp.Literal.string(str(first)), "date"),
                        exp.cast(exp.Literal.string(str(last)), "date"),
                    )
                )
            elif not (model.kind.is_full or model.kind.is_seed):
                return None
            row = self._adapter.fetchone(query)
        except Exception as exc:  # the count is for people; the batch itself succeeded
            PROGRESS_LOG.debug("no row count for %s: %s", snapshot.name, exc)
            return None
        return int(row[0]) if row else None

    def _tell(self, event: str, *args: t.Any) -> bool:
        """Whether a listener took the event; a listener's failure is logged, never the batch's."""
        if self._listener is None:
            return False
        try:
            getattr(self._listener, event)(*args)
        except Exception as exc:
            PROGRESS_LOG.warning("the batch listener failed on %s: %s", event, exc)
        return True

    def stop_promotion_progress(self, success: bool = True) -> None:
        # A plan's views are updated; its environment is finalized right after.
        if success:
            crash_point("sqlmesh.before_finalize")


def _failed_audits(raised: BaseException | None) -> list[str]:
    """The blocking audits that failed the batch (SQLMesh's NodeAuditsErrors), by name."""
    if not isinstance(raised, NodeAuditsErrors):
        return []
    return [str(e.audit_name) for e in raised.errors]


@contextmanager
def recorded_context(
    paths: DataPaths, gateway: str | None, project: Path, listener: BatchListener | None = None
) -> Iterator[tuple[t.Any, FailureCollector, EvaluationRecorder]]:
    """A SQLMesh context whose failures are collected and whose batches are recorded."""
    collector, recorder = FailureCollector(), EvaluationRecorder(listener)
    with sqlmesh_context(paths, gateway, project, notification_targets=[collector], console=recorder) as context:
        recorder.bind(context)
        yield context, collector, recorder


class WarehouseRefreshFailed(RuntimeError):
    def __init__(
        self, as_of: date, failures: list[dict[str, object]], evaluations: list[dict[str, object]] | None = None
    ) -> None:
        self.as_of = as_of
        self.failures = failures
        self.evaluations = evaluations or []
        described = "; ".join(describe_failure(f) for f in failures)
        super().__init__(f"the warehouse run for {as_of} failed: {described or 'see the SQLMesh log'}")


@dataclass
class RefreshResult:
    as_of: date
    planned_prod: bool
    status: str
    failures: list[dict[str, object]] = field(default_factory=list)
    evaluations: list[dict[str, object]] = field(default_factory=list)
    restated: list[dict[str, object]] = field(default_factory=list)  # late changes restated after the run


def refresh_warehouse(
    paths: DataPaths,
    as_of: date,
    gateway: str | None = None,
    project: Path = PROJECT_ROOT,
    restate_late_changes: bool = True,
    listener: BatchListener | None = None,
) -> RefreshResult:
    """Run every due interval up to `as_of`; on an empty warehouse, apply the prod plan first, and
    finish a prod plan a crash interrupted. Then (unless told not to) restate what changed behind
    the lookback (late_changes). Each model batch is reported to `listener` as it ends."""
    planned, restated = False, []
    with recorded_context(paths, gateway, project, listener) as (context, collector, recorder):
        try:
            at = execution_time(as_of)
            if context.state_reader.get_environment("prod") is None:
                context.plan("prod", execution_time=at, no_prompts=True, auto_apply=True)
                planned = True
            else:
                planned = finish_interrupted_plan(context, "prod", at)
            status = context.run(execution_time=at)
            if restate_late_changes and not status.is_failure and not collector.failures:
                restated = restate_in(context)  # late profiles, --replace, rows beyond the lookback
        except Exception as exc:  # a failed plan raises; the run reports through its status
            failures = _failures(collector, recorder) or [{"error": describe_error(exc)}]
            raise WarehouseRefreshFailed(as_of, failures, recorder.evaluations) from exc
    if status.is_failure or collector.failures:
        raise WarehouseRefreshFailed(as_of, _failures(collector, recorder), recorder.evaluations)
    return RefreshResult(
        as_of, planned, status.value, collector.failures, recorder.evaluations, [asdict(r) for r in restated]
    )


def _failures(collector: FailureCollector, recorder: EvaluationRecorder) -> list[dict[str, object]]:
    """Audit failures first; else each failed model with its real error; else SQLMesh's own
    errors, each reduced to the root of its chain."""
    audits = [f for f in collector.failures if "audit" in f]
    return audits or recorder.failed_models or collector.failures
