"""Each SQLMesh model batch as a Prefect task run of the flow run that evaluates it.

SQLMesh evaluates the batches itself (its scheduler, its threads); Prefect learns of them as its
own task engine reports a task run: through state-change events, from which the server records
the run (prefect.server.services.task_run_recorder). So a flow run's graph and timeline show the
warehouse model by model: one task run per batch, named "schema.model D1..D2", nested under the
sqlmesh-run task, drawn after the batches of its upstream models, with its duration, rows and
audits in its state message, and Failed, naming the audit, when a blocking audit fails.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

from prefect.client.schemas.objects import TaskRun, TaskRunResult
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import Event
from prefect.logging.loggers import task_run_logger
from prefect.states import Completed, Failed, Pending, Running, State
from prefect.utilities.engine import emit_task_run_state_change_event

TASK_KEY = "sqlmesh-model-batch"


def batch_message(evaluation: dict[str, Any], failed_audits: list[str], error: str | None) -> str:
    """A batch task run's state message: "1,204 rows in 0.31 s; audits: 2 passed" (a view: no
    rows), or what failed."""
    if failed_audits:
        return f"blocking audit {', '.join(failed_audits)} failed on {evaluation['model']}"
    if error is not None:
        return error
    rows = "" if evaluation["rows"] is None else f"{evaluation['rows']:,} rows in "
    return f"{rows}{evaluation['seconds']:.2f} s; audits: {evaluation['audits_passed']} passed"


class ModelTaskRuns:
    """A BatchListener (refresh.py) that reports each batch as a task run. Made inside the task
    that runs SQLMesh: its run context (the flow run, the parent task run) is kept and each event
    is sent within it, since SQLMesh may call from its own threads."""

    def __init__(self) -> None:
        self._context = contextvars.copy_context()
        flow_context, task_context = FlowRunContext.get(), TaskRunContext.get()
        self._flow_run = flow_context.flow_run if flow_context else None
        self._parent = task_context.task_run.id if task_context else None
        self._upstream: dict[str, list[str]] = {}
        self._runs: dict[str, TaskRun] = {}
        self._latest_of_model: dict[str, TaskRun] = {}
        self._events: dict[str, Event | None] = {}
        self._lock = threading.Lock()
        self.finished = 0
        self.total = 0

    def batches_planned(self, batches: list[str], upstream: dict[str, list[str]]) -> None:
        self._upstream |= upstream
        self.total += len(batches)

    def batch_started(self, batch: str) -> None:
        run = self._new_run(batch)
        self._runs[batch] = run
        self._in_context(lambda: self._set(batch, Pending()))
        self._in_context(lambda: self._set(batch, Running()))

    def batch_finished(self, evaluation: dict[str, Any], failed_audits: list[str], error: str | None) -> None:
        batch = str(evaluation["batch_label"])
        if batch not in self._runs:  # a batch SQLMesh did not announce (it always does): a run of its own
            self.batch_started(batch)
        message = batch_message(evaluation, failed_audits, error)
        final = Completed(message=message) if error is None else Failed(message=message)
        self._in_context(lambda: self._set(batch, final))
        with self._lock:
            self.finished += 1
            done = f"[{self.finished}/{max(self.total, self.finished)}]"
        self._in_context(lambda: self._logger(batch).info("%s %s: %s", done, batch, message))

    def _new_run(self, batch: str) -> TaskRun:
        model = batch.split(" ", 1)[0]
        inputs: dict[str, list[Any]] = {
            upstream: [TaskRunResult(id=self._latest_of_model[upstream].id)]
            for upstream in self._upstream.get(model, [])
            if upstream in self._latest_of_model
        }
        if self._parent is not None:
            inputs["__parents__"] = [TaskRunResult(id=self._parent)]
        run = TaskRun(
            id=uuid4(),
            name=batch,
            flow_run_id=self._flow_run.id if self._flow_run else None,
            task_key=TASK_KEY,
            dynamic_key=f"{batch}-{uuid4().hex[:8]}",
            tags=["sqlmesh", model.split(".")[0]],
            task_inputs=inputs,
            state=None,
        )
        self._latest_of_model[model] = run
        return run

    def _set(self, batch: str, state: State) -> None:
        """The task run engine's bookkeeping of a state change, then its event."""
        run = self._runs[batch]
        previous = run.state
        if previous is not None and state.timestamp <= previous.timestamp:
            state.timestamp = previous.timestamp + timedelta(microseconds=1)  # as the engine keeps them apart
        state.state_details.task_run_id, state.state_details.flow_run_id = run.id, run.flow_run_id
        if previous is not None and previous.is_running():
            run.total_run_time += state.timestamp - previous.timestamp
        if state.is_running():
            run.run_count += 1
            run.start_time = state.timestamp
        if state.is_final():
            run.end_time = state.timestamp
        if previous is None:
            run.expected_start_time = state.timestamp
        run.state, run.state_id, run.state_type, run.state_name = state, state.id, state.type, state.name
        self._events[batch] = emit_task_run_state_change_event(run, previous, state, self._events.get(batch))

    def _logger(self, batch: str) -> Any:
        return task_run_logger(self._runs[batch], flow_run=self._flow_run)

    def _in_context(self, call: Callable[[], object]) -> None:
        self._context.copy().run(call)
