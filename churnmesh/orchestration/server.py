"""The Prefect server of a churnmesh command: `churnmesh serve` (a server on 127.0.0.1, home
under the data directory, and the deployments; Ctrl-C stops both), and the temporary one a flow
command runs on when no server is configured.

Either dies with the command that started it, even one killed with SIGKILL (churnmesh.lifetime):
a server left behind keeps about 225 MB and a port. A normal exit stops its process group.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from churnmesh import lifetime
from churnmesh.faults import crash_point
from churnmesh.settings import DataPaths

HOST = "127.0.0.1"
STARTUP_SECONDS = 180
POLL_SECONDS = 0.2
API_URL_ENV = "PREFECT_API_URL"
UI_URL_ENV = "PREFECT_UI_URL"  # set where the server has a UI: the failure alerts link their run there
SERVER, TEMPORARY_SERVER = "server", "temporary-server"
# Prefect's own temporary server (SubprocessASGIServer in prefect/server/api/server.py): the API
# without the UI, and only the services a short-lived server needs.
TEMPORARY_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def ui_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode} (see its log)")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"the Prefect server did not answer on {url} within {timeout:.0f} s")


def _home(paths: DataPaths) -> Path:
    return paths.root / "prefect"


def _record(paths: DataPaths, kind: str) -> Path:
    """Which server of this kind a command on this data folder started (churnmesh.lifetime.spawn)."""
    return _home(paths) / f"{kind}.json"


def _start(paths: DataPaths, kind: str, port: int, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = lifetime.spawn(command, _home(paths) / "server.log", env, _record(paths, kind))
    try:
        crash_point("server.starting")
        wait_until_healthy(api_url(port), process)
    except BaseException:
        stop(process)
        raise
    return process


def start_server(paths: DataPaths, port: int) -> subprocess.Popen:
    """`prefect server start` on `port`: the UI and every service (schedules)."""
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect), "server", "start", "--host", HOST, "--port", str(port)]
    # The UI's own calls go to this address (not to whatever a shell may have configured).
    return _start(paths, SERVER, port, command, os.environ | {"PREFECT_UI_API_URL": api_url(port)})


def start_temporary_server(paths: DataPaths, port: int) -> subprocess.Popen:
    """The server Prefect would start for a flow run without one, on `port`."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return _start(paths, TEMPORARY_SERVER, port, command, os.environ | TEMPORARY_SERVER_ENV)


def stop(process: subprocess.Popen) -> None:
    lifetime.stop(process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def temporary_server(paths: DataPaths) -> Iterator[None]:
    """PREFECT_API_URL for the block: the configured server, else a temporary one that lives as
    long as the block. Enter it before Prefect is imported: Prefect reads the variable then."""
    if os.environ.get(API_URL_ENV):
        yield
        return
    port = free_port()
    server = start_temporary_server(paths, port)
    os.environ[API_URL_ENV] = api_url(port)
    try:
        yield
    finally:
        del os.environ[API_URL_ENV]
        _send_pending_logs_and_events()
        stop(server)


def _send_pending_logs_and_events() -> None:
    """What Prefect's workers still hold goes to the server before it stops (as Prefect's test
    harness does); they would retry a stopped server at exit, for a minute, and say so."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


def serve(paths: DataPaths, port: int) -> None:
    """Start the server unless PREFECT_API_URL points at one, then serve the deployments until
    Ctrl-C: the runner stops, Prefect's pending logs and events reach the server, the server stops."""
    server = None
    if not os.environ.get(API_URL_ENV):
        server = start_server(paths, port)
        os.environ[API_URL_ENV] = api_url(port)
        os.environ[UI_URL_ENV] = ui_url(port)
    try:
        # Imported only now: Prefect reads PREFECT_API_URL when it is first imported.
        from churnmesh.orchestration.deployments import serve_deployments

        print(
            f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}  (Ctrl-C stops everything)", flush=True
        )
        serve_deployments()
    except KeyboardInterrupt:
        print("stopping: the deployments, then the Prefect server", flush=True)
    finally:
        _send_pending_logs_and_events()
        if server is not None:
            stop(server)
