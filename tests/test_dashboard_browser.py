"""The dashboard as a person sees it: `churnmesh dashboard` serving real pages to Debian's Chromium,
driven by Playwright. Every page loads without an error box, its key figure is the warehouse's,
and one campaign simulation runs. Each page is photographed (into $CHURNMESH_SCREENSHOTS when it
is set, e.g. docs/dashboard, else into the test's folder)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from churnmesh.dashboard import PAGES
from churnmesh.dashboard.views import shown
from tests.conftest import SCORED_AS_OF, Scored, scored_copy

CHROMIUM = Path("/usr/bin/chromium")
# As root on a closed network: no sandbox, and none of Chromium's background connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = None if CHROMIUM.exists() and shutil.which("chromium") else "Debian's chromium is not installed"
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"{MISSING}: .ci/run installs it (apt-get install -y chromium)")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING} (apt-get install -y chromium)")
CONTENT = '[data-testid="stMetric"], [data-testid="stDataFrame"], [data-testid="stVegaLiteChart"]'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scored = scored_copy(scored_base, tmp_path_factory.mktemp("browser"))
    port = _free_port()
    env = os.environ | {"CHURNMESH_DATA_DIR": str(scored.paths.root)}
    command = [str(Path(sys.executable).with_name("churnmesh")), "dashboard", "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "churnmesh dashboard exited early"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the dashboard did not come up on {url}")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CHURNMESH_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _metric(page: object, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _settle(page: object) -> None:
    """Wait for the script run to finish (Streamlit shows a running indicator meanwhile)."""
    page.wait_for_selector(CONTENT, timeout=60_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(500)


def test_every_page_loads_without_an_error_box(
    dashboard: str, browser: object, shots: Path, scored_base: Scored
) -> None:
    con = duckdb.connect(str(scored_base.paths.warehouse), read_only=True)
    try:
        customers = con.execute("SELECT count(*) FROM marts.mart_customer_360").fetchone()[0]
    finally:
        con.close()
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    for _, title, _, url_path in PAGES:
        page.goto(f"{dashboard}/{url_path}")
        _settle(page)
        assert page.locator("h1").first.inner_text().strip() == title
        assert f"As of {SCORED_AS_OF}" in page.content()
        assert page.locator('[data-testid="stException"]').count() == 0, title
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, title
        page.screenshot(path=str(shots / f"{url_path or 'overview'}.png"), full_page=True)
        if title == "Overview":
            assert _metric(page, "Customers") == shown(customers, "customers")
    page.close()


def test_a_campaign_simulation_in_the_browser(dashboard: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.goto(f"{dashboard}/campaign")
    _settle(page)
    targeted = int(_metric(page, "Customers targeted").replace(",", ""))
    assert targeted > 0
    cost = page.get_by_label("Offer cost per customer (USD)")
    cost.fill("25")
    cost.press("Enter")
    page.wait_for_function(
        "expected => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".some(m => m.innerText.includes('Cost') && m.innerText.includes(expected))",
        arg=shown(25.0 * targeted, "usd"),
        timeout=60_000,
    )
    assert _metric(page, "Cost") == shown(25.0 * targeted, "usd")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
