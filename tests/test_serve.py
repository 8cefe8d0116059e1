"""End to end: `churnmesh serve` starts a real Prefect server and the deployments; a backfill
deployment triggered through the API with start and end fills exactly those SQLMesh intervals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from churnmesh.orchestration.operations import model_intervals
from churnmesh.settings import PROJECT_ROOT
from tests.conftest import SCORED_AS_OF, Scored, scored_copy

DEPLOYMENTS = ("daily-refresh/nightly", "run-audits/nightly", "train-churn-model/weekly", "backfill/manual")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_deployments(api: str, server: subprocess.Popen, timeout: float = 240) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "churnmesh serve exited early"
        try:
            with get_client(sync_client=True) as client:
                for name in DEPLOYMENTS:
                    client.read_deployment_by_name(name)
                return
        except Exception:
            time.sleep(2)
    pytest.fail(f"the deployments did not appear on {api}")


def test_a_backfill_deployment_fills_the_requested_intervals(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "CHURNMESH_DATA_DIR": str(scored.paths.root),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    churnmesh = Path(sys.executable).with_name("churnmesh")
    server = subprocess.Popen(
        [str(churnmesh), "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    day = SCORED_AS_OF + timedelta(days=1)
    try:
        # Settings, not the environment: Prefect may already be configured in this process (the
        # flow tests' harness), and it reads the environment once.
        with temporary_settings(updates={PREFECT_API_URL: api}):
            _wait_for_deployments(api, server)
            run = run_deployment(
                "backfill/manual",
                parameters={"start": day.isoformat(), "end": day.isoformat()},
                timeout=600,
                as_subflow=False,
            )
        assert run.state is not None and run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text())
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    intervals = model_intervals(scored.paths, "intermediate.int_customer_daily_metrics")
    assert intervals[-1][1] == day
