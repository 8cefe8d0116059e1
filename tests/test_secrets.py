"""Secrets stay secret: the webhook URL comes from the environment or a Prefect Secret block, and
no log line, artifact, run record, ledger, outbox or file of a run carries it; database passwords
come from the environment; the repository's files hold no secret."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.logging.handlers import APILogWorker
from prefect.testing.utilities import prefect_test_harness

from churnmesh.cli import daily_refresh_run
from churnmesh.orchestration import flows, notify
from churnmesh.orchestration.notify import (
    WEBHOOK_ENV,
    WEBHOOK_SECRET_BLOCK_ENV,
    Alert,
    DeliveryError,
    Ledger,
    OutboxChannel,
    WebhookChannel,
    configured_channel,
    deliver,
)
from churnmesh.settings import PROJECT_ROOT, DataPaths
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import withdraw_files
from tests.webhook import webhook_receiver

# Recognisable and unique to this test session, so finding it anywhere means it leaked.
TOKEN = f"SECRET-{uuid4().hex[:16].upper()}"
BLOCK = "churnmesh-test-webhook"
# The built day, with one source's two newer files withdrawn: it holds the data watermark back by
# two days, more than the allowance, so the run has a freshness alert to send.
ALERTING_DAY = SCORED_AS_OF
LAGGING_FILES = [f"device_sessions/{SCORED_AS_OF + timedelta(days=n)}.csv" for n in (1, 2)]


def _secret_url(base: str) -> str:
    return f"{base}?token={TOKEN}"


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


# --- the webhook URL: where it comes from, and errors that do not quote it --------------------


def test_the_url_comes_from_the_environment_first_then_a_secret_block(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_block = _secret_url("http://127.0.0.1:9/from-block")
    Secret(value=from_block).save(BLOCK, overwrite=True)
    monkeypatch.setenv(WEBHOOK_SECRET_BLOCK_ENV, BLOCK)
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    channel = configured_channel(DataPaths(tmp_path))
    assert isinstance(channel, WebhookChannel) and channel.url == from_block
    assert TOKEN not in repr(channel)
    monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/from-env")
    assert configured_channel(DataPaths(tmp_path)).url == "http://127.0.0.1:9/from-env"


def test_an_unreadable_secret_block_sends_alerts_to_the_outbox(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    monkeypatch.setenv(WEBHOOK_SECRET_BLOCK_ENV, "no-such-block")
    with caplog.at_level(logging.ERROR, logger="churnmesh.notify"):
        channel = configured_channel(DataPaths(tmp_path))
    assert isinstance(channel, OutboxChannel)
    assert "'no-such-block'" in caplog.text and "outbox" in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "htp://127.0.0.1/hook",  # unknown scheme: urllib's ValueError quotes the URL
        "http://127.0.0.1:port/hook",  # http.client.InvalidURL quotes the port
        "http://127.0.0.1/ho ok",  # InvalidURL ("can't contain control characters") quotes the URL
        "http://127.0.0.1:9/hook",  # nothing listens
    ],
)
def test_delivery_errors_never_quote_the_url(url: str, tmp_path: Path) -> None:
    channel = WebhookChannel(_secret_url(url), timeout=2)
    with pytest.raises(DeliveryError) as error:
        channel.send({"text": "x"})
    assert TOKEN not in str(error.value) and error.value.__suppress_context__  # no chained urllib message
    ledger = Ledger(tmp_path / "ledger.jsonl")
    alert = Alert(SCORED_AS_OF, "volume", "orders", "orders: volume")
    report = deliver([alert], channel, ledger, attempts=2, sleep=lambda _: None)
    assert report.undelivered == [alert.ledger_key] and TOKEN not in ledger.path.read_text()


# --- a real run: nothing it leaves behind carries the URL ------------------------------------


def test_a_run_with_a_failing_then_a_working_webhook_leaves_the_url_nowhere(
    prefect_api: None,
    scored_base: Scored,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="churnmesh")
    scored = scored_copy(scored_base, tmp_path)
    withdraw_files(scored.paths.warehouse, scored.paths.landing, LAGGING_FILES)
    monkeypatch.setattr(flows, "deliver", partial(notify.deliver, backoff_seconds=0.0))
    with webhook_receiver(500) as failing:  # first through the environment, to a failing receiver
        monkeypatch.setenv(WEBHOOK_ENV, _secret_url(failing.url))
        first, stale = daily_refresh_run(as_of=ALERTING_DAY, data_dir=str(scored.paths.root))
    assert stale, "a source two days behind makes the run stale"
    undelivered = first["delivery"]["undelivered"]
    assert undelivered and len(failing.received) == notify.DELIVERY_ATTEMPTS * len(undelivered)
    with webhook_receiver(200) as working:  # then through a Secret block, to a working one
        Secret(value=_secret_url(working.url)).save(BLOCK, overwrite=True)
        monkeypatch.delenv(WEBHOOK_ENV)
        monkeypatch.setenv(WEBHOOK_SECRET_BLOCK_ENV, BLOCK)
        second, _ = daily_refresh_run(as_of=ALERTING_DAY, data_dir=str(scored.paths.root))
    assert (
        sorted(second["delivery"]["delivered"])
        == sorted(undelivered)
        == sorted(
            f"{p['churnmesh']['as_of']}|{p['churnmesh']['kind']}|{p['churnmesh']['key']}" for p in working.received
        )
    )
    statuses = [json.loads(line)["status"] for line in (scored.paths.root / "notifications" / "ledger.jsonl").open()]
    assert "undelivered" in statuses and "delivered" in statuses

    captured = capfd.readouterr()
    texts = {
        "log records": caplog.text + "\n".join(str(r.args) for r in caplog.records),
        "stdout and stderr": captured.out + captured.err,
        "flow results": json.dumps([first, second], default=str),
        **_prefect_records(),
    }
    assert all(TOKEN not in text for text in texts.values()), [name for name, text in texts.items() if TOKEN in text]
    assert "notifications through the webhook" in texts["Prefect logs"]  # the records are the run's
    files = [p for p in scored.paths.root.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.jsonl" for p in files) and any(p.suffix == ".md" for p in files)
    assert [p for p in files if TOKEN.encode() in p.read_bytes()] == []


def _prefect_records() -> dict[str, str]:
    """Everything Prefect kept of the runs: logs, artifacts, flow and task runs (parameters,
    states and their messages), as the API serves them."""
    APILogWorker.drain_all(timeout=10)  # logs reach the API in batches
    with get_client(sync_client=True) as client:
        records = {name: _read_all(client, name) for name in ("logs", "artifacts", "flow_runs", "task_runs")}
    assert all(records.values()), {name: len(items) for name, items in records.items()}
    return {f"Prefect {name}": json.dumps(items) for name, items in records.items()}


def _read_all(client: SyncPrefectClient, collection: str) -> list[dict[str, object]]:
    # The API's own filter endpoint: the sync client's read_* helpers send nulls it refuses.
    items: list[dict[str, object]] = []
    while batch := client.request("POST", f"/{collection}/filter", json={"limit": 200, "offset": len(items)}).json():
        items += batch
    return items


# --- configuration and the repository --------------------------------------------------------


def test_every_database_password_in_the_config_comes_from_the_environment() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "project.yaml").read_text())
    found = list(_password_settings(config))
    assert found, "the postgres gateway has a password setting"
    assert [v for _, v in found if not re.fullmatch(r"\{\{\s*env_var\('[A-Z_]+'(, '')?\)\s*\}\}", str(v))] == []


def _password_settings(node: object, path: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if "password" in str(key).lower():
                yield f"{path}.{key}", value
            yield from _password_settings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _password_settings(value, f"{path}[{index}]")


# What a secret committed by mistake looks like. Values that are templates ({{ env_var(...) }},
# ${VAR}) or code (no quotes) are not secrets.
SECRET_PATTERNS = {
    "secret in a URL query": re.compile(
        r"[?&](?:access_token|token|api_?key|key|secret|password|passwd|sig|signature)=[^\s&'\"{}<>$`]{6,}", re.I
    ),
    "credentials in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"{}$]+@", re.I),
    "password or token as a literal": re.compile(
        r"\b(?:password|passwd|secret|api_?key|access_token|auth_token)[\"']?\s*[:=]\s*[\"'][^\"'\s{}$]{4,}[\"']", re.I
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "Slack webhook or token": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+|\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "cloud or GitHub token": re.compile(r"\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}


def _secrets_in(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_the_secret_patterns_find_secrets_and_leave_templates_alone() -> None:
    # Assembled at run time, so that this file itself holds none of them.
    found = [
        "https://hooks.example.com/x?" + "token=" + "abc123def456",
        "postgres://churn" + ":" + "hunter22@db.example.com/warehouse",
        "password" + ': "' + "hunter22" + '"',
        "-----BEGIN " + "RSA PRIVATE KEY-----",
        "https://hooks.slack.com/services/" + "T0000/B0000/XXXXXXXX",
    ]
    assert [bool(_secrets_in(sample)) for sample in found] == [True] * len(found)
    templates = [
        "password: \"{{ env_var('CHURNMESH_PG_PASSWORD', '') }}\"",
        "url = os.environ.get(WEBHOOK_ENV)",
        "Secret(value=_secret_url(working.url))",
        'f"{base}?token={TOKEN}"',
    ]
    assert [_secrets_in(sample) for sample in templates] == [[]] * len(templates)


def test_the_repository_holds_no_secrets() -> None:
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    findings = []
    for name in filter(None, listed.decode().split("\0")):
        path = PROJECT_ROOT / name
        if not path.is_file():
            continue
        content = path.read_bytes()
        if b"\0" in content:  # binary
            continue
        for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
            findings += [f"{name}:{number}: {kind}" for kind in _secrets_in(line)]
    assert findings == []
