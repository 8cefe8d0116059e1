"""Bringing the warehouse up to an as-of date through SQLMesh, failing loudly on a blocking audit.

`Context.run()` does not raise when a blocking audit fails: it returns a status. A notification
target collects each failure with its model, audit and failing row count, so the caller can stop
and say exactly what failed.

A failed model batch reaches the caller as "PlanError: Plan application failed." (a plan) or a
bare failed status (a run): SQLMesh hands the real error only to the console's
`log_failed_models`, which a silent console drops. EvaluationRecorder keeps it, and every failure
is described by the root of its exception chain, one line with the model it concerns, e.g.
"core.fct_orders: IO Error: No space left on device".
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from pydantic import PrivateAttr
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.notification_target import GenericNotificationTarget, NotificationEvent, NotificationStatus
from sqlmesh.utils.date import to_ds

from churnmesh.faults import crash_point
from churnmesh.orchestration.late_changes import restate_in
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import execution_time, finish_interrupted_plan, sqlmesh_context


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


class EvaluationRecorder(NoopConsole):
    """A silent SQLMesh console that keeps one record per model batch evaluated: model,
    interval, duration, rows (when the engine reports them) and audits passed and failed; and
    the real error of each model that failed (which the plan or run then only calls "failed")."""

    def __init__(self) -> None:
        super().__init__()
        self.evaluations: list[dict[str, object]] = []
        self.failed_models: list[dict[str, object]] = []

    def log_failed_models(self, errors: list[t.Any]) -> None:
        for error in errors:
            self.failed_models.append({"model": _node_name(error), "error": describe_error(error)})

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
        start, end = interval
        self.evaluations.append(
            {
                "model": snapshot.name.replace('"', ""),
                "interval_start": to_ds(start),
                "interval_end": to_ds(end),
                "batch": batch_idx,
                "seconds": round((duration_ms or 0) / 1000, 3),
                "rows": getattr(execution_stats, "total_rows_processed", None),
                "audits_passed": num_audits_passed,
                "audits_failed": num_audits_failed,
            }
        )
        crash_point("sqlmesh.after_batch")

    def stop_promotion_progress(self, success: bool = True) -> None:
        # A plan's views are updated; its environment is finalized right after.
        if success:
            crash_point("sqlmesh.before_finalize")


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
) -> RefreshResult:
    """Run every due interval up to `as_of`; on an empty warehouse, apply the prod plan first, and
    finish a prod plan a crash interrupted. Then (unless told not to) restate what changed behind
    the lookback (late_changes)."""
    collector, recorder = FailureCollector(), EvaluationRecorder()
    planned, restated = False, []
    with sqlmesh_context(paths, gateway, project, notification_targets=[collector], console=recorder) as context:
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
