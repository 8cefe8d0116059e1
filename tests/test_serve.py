"""End to end on a real Prefect server: `churnmesh serve` starts it and the deployments; runs
triggered through the API fill SQLMesh intervals, report every model batch as a task run of its
own, fail exactly the batch whose blocking audit fails, and Ctrl-C stops it all calmly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from churnmesh.orchestration.model_runs import TASK_KEY
from churnmesh.orchestration.operations import model_intervals
from churnmesh.settings import PROJECT_ROOT
from churnmesh.warehouse import copy_project, plan_environment
from tests.conftest import SCORED_AS_OF, Scored, scored_copy

DEPLOYMENTS = (
    "daily-refresh/daily-refresh-nightly",
    "run-audits/run-audits-nightly",
    "train-churn-model/train-churn-model-weekly",
    "backfill/backfill-on-demand",
    "review-change/review-change-on-demand",
)
STOP_WAIT_SECONDS = 60  # only a bound on the wait; the time taken is measured and printed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    process: subprocess.Popen
    log: Path
    stop_seconds: float | None = None
    output_at_stop: int = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_for_deployments(served: Served, timeout: float = 240) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"churnmesh serve exited early:\n{served.output()}"
        try:
            with get_client(sync_client=True) as client:
                for name in DEPLOYMENTS:
                    client.read_deployment_by_name(name)
                return
        except Exception:
            time.sleep(2)
    pytest.fail(f"the deployments did not appear:\n{served.output()}")


@contextmanager
def served(scored: Scored, project: Path, tmp_path: Path) -> Iterator[Served]:
    """`churnmesh serve` on the scored copy and `project`, the API configured for this process;
    stopped with Ctrl-C (SIGINT to its process group) at the end, and the stop timed."""
    port = _free_port()
    env = {
        **os.environ,
        "CHURNMESH_DATA_DIR": str(scored.paths.root),
        "CHURNMESH_PROJECT_DIR": str(project),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "serve.log"
    churnmesh = Path(sys.executable).with_name("churnmesh")
    process = subprocess.Popen(
        [str(churnmesh), "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from prefect.settings import PREFECT_API_URL, temporary_settings

    running = Served(process, log)
    try:
        # Settings, not the environment: Prefect may already be configured in this process (the
        # flow tests' harness), and it reads the environment once.
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
            _wait_for_deployments(running)
            yield running
    finally:
        _stop_calmly(running)


def _quiet(running: Served, seconds: float = 3, timeout: float = 60) -> None:
    """Until the server's output has not grown for `seconds`: the last flow run's process has
    finished writing (Prefect's runner logs a failed run's exception as that process exits)."""
    deadline, size, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(running.output())
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.5)


def _stop_calmly(running: Served) -> None:
    _quiet(running)
    running.output_at_stop = len(running.output())
    started = time.monotonic()
    os.killpg(running.process.pid, signal.SIGINT)
    try:
        running.process.wait(timeout=STOP_WAIT_SECONDS)
        running.stop_seconds = time.monotonic() - started
    except subprocess.TimeoutExpired:
        os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait()
    print(f"churnmesh serve stopped {running.stop_seconds} s after Ctrl-C")


def _run(deployment: str, parameters: dict[str, object]) -> Any:
    from prefect.deployments import run_deployment

    return run_deployment(deployment, parameters=parameters, timeout=600, as_subflow=False)


def _batch_runs(flow_run_id: object, expected: int, timeout: float = 60) -> tuple[list[Any], list[Any]]:
    """The flow run's model batch task runs, once the server has recorded all `expected` of them
    in a final state (it records task runs from their events, a moment after they are sent), and
    its other task runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
                offset=0,
            )
        batches = [r for r in runs if r.task_key == TASK_KEY]
        if (len(batches) >= expected and all(r.state and r.state.is_final() for r in batches)) or (
            time.monotonic() > deadline
        ):
            return batches, [r for r in runs if r.task_key != TASK_KEY]
        time.sleep(1)


def _evaluations(flow_run_id: object) -> list[dict[str, Any]]:
    """The flow run's sqlmesh-evaluations table artifact. Through the REST API: the pinned sync
    client sends null for the filters it is not given, and an empty task-run filter would keep
    only artifacts made inside a task."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    body = {
        "artifacts": {"key": {"any_": ["sqlmesh-evaluations"]}, "flow_run_id": {"any_": [str(flow_run_id)]}},
        "sort": "CREATED_DESC",
        "limit": 1,
        "offset": 0,
    }
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    artifacts = response.json()
    assert artifacts, "no sqlmesh-evaluations artifact"
    data = artifacts[0]["data"]
    return json.loads(data) if isinstance(data, str) else data


def _plant_blocking_audit(project: Path, passes_until: str) -> None:
    """mart_churn_risk's as-of date may not pass `passes_until`: the next day's run fails on it."""
    mart = project / "models" / "marts" / "mart_churn_risk.sql"
    text = mart.read_text()
    planted = f"  audits (\n    accepted_range(column := as_of_date, max_v := '{passes_until}'),\n"
    assert "  audits (\n" in text
    mart.write_text(text.replace("  audits (\n", planted, 1))


def test_served_runs_show_each_model_batch_and_fail_exactly_the_audited_one(
    scored_base: Scored, tmp_path: Path
) -> None:
    scored = scored_copy(scored_base, tmp_path)
    project = copy_project(tmp_path / "project")
    day, next_day = SCORED_AS_OF + timedelta(days=1), SCORED_AS_OF + timedelta(days=2)
    with served(scored, project, tmp_path) as running:
        backfill = _run("backfill/backfill-on-demand", {"start": day.isoformat(), "end": day.isoformat()})
        assert backfill.state.is_completed(), (backfill.state, running.output())
        assert backfill.name.startswith(f"backfill {day}..{day} ")
        assert model_intervals(scored.paths, "intermediate.int_customer_daily_metrics")[-1][1] == day
        filled = _evaluations(backfill.id)
        batches, _ = _batch_runs(backfill.id, len(filled))
        assert sorted(r.name for r in batches) == sorted(e["batch_label"] for e in filled)
        assert all(r.state.is_completed() and "audits:" in r.state.message for r in batches)
        assert any(e["rows"] for e in filled), "no batch reported its rows"

        _plant_blocking_audit(project, day.isoformat())
        plan_environment(scored.paths, "prod", day, project=project)
        refresh = _run("daily-refresh/daily-refresh-nightly", {"as_of": next_day.isoformat()})
        assert refresh.state.is_failed(), (refresh.state, running.output())
        assert refresh.name.startswith(f"daily-refresh {next_day} ")
        evaluated = _evaluations(refresh.id)
        batches, tasks = _batch_runs(refresh.id, len(evaluated))
        assert sorted(r.name for r in batches) == sorted(e["batch_label"] for e in evaluated)
        failed = [r for r in batches if not r.state.is_completed()]
        assert [r.name for r in failed] == [f"marts.mart_churn_risk {next_day}"]
        assert failed[0].state.is_failed() and "accepted_range" in failed[0].state.message
        completed = [r for r in batches if r.state.is_completed()]
        assert completed and all(" s; audits: " in r.state.message for r in completed)
        parents = {str(i.id) for r in batches for i in r.task_inputs.get("__parents__", [])}
        sqlmesh_run = [str(r.id) for r in tasks if r.name.startswith("sqlmesh-run")]
        assert parents == set(sqlmesh_run), "every batch hangs under the one sqlmesh-run task run"
    assert running.process.poll() is not None, "churnmesh serve is still running"
    assert running.stop_seconds is not None, f"churnmesh serve ignored Ctrl-C:\n{running.output()}"
    after_ctrl_c = running.output()[running.output_at_stop :]
    assert "Traceback" not in after_ctrl_c, after_ctrl_c
