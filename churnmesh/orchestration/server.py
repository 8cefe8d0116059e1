"""`churnmesh serve`: a Prefect server on 127.0.0.1 (home under the data directory) and the
deployments, in one command; stopping it (Ctrl-C) stops both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from churnmesh.settings import DataPaths

HOST = "127.0.0.1"
STARTUP_SECONDS = 180


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


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
        time.sleep(1)
    raise RuntimeError(f"the Prefect server did not answer on {url} within {timeout:.0f} s")


def start_server(paths: DataPaths, port: int) -> subprocess.Popen:
    log = paths.root / "prefect" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", HOST, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    try:
        wait_until_healthy(api_url(port), process)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(paths: DataPaths, port: int) -> None:
    """Start the server unless PREFECT_API_URL points at one, then serve the deployments."""
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = start_server(paths, port)
        os.environ["PREFECT_API_URL"] = api_url(port)
    try:
        # Imported only now: Prefect reads PREFECT_API_URL when it is first imported.
        from churnmesh.orchestration.deployments import serve_deployments

        print(
            f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}  (Ctrl-C stops everything)", flush=True
        )
        serve_deployments()
    finally:
        if server is not None:
            stop(server)
