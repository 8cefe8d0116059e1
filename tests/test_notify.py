"""Alert delivery: webhook to a real receiver, retries, the outbox, and once per day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from churnmesh.orchestration.notify import (
    IDEMPOTENCY_HEADER,
    WEBHOOK_ENV,
    Alert,
    Ledger,
    OutboxChannel,
    WebhookChannel,
    configured_channel,
    deliver,
)
from churnmesh.settings import DataPaths
from tests.webhook import webhook_receiver

DAY = date(2025, 8, 1)
ALERT = Alert(
    DAY, "volume", "orders", "orders: 10 rows on 2025-08-01, trailing 28-day mean 60", ("line",), {"rows": 10}
)


def test_a_webhook_gets_a_slack_compatible_payload_once_per_day(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with webhook_receiver(200) as receiver:
        first = deliver([ALERT], WebhookChannel(receiver.url), ledger)
        again = deliver([ALERT], WebhookChannel(receiver.url), ledger)
    assert first.delivered == [ALERT.ledger_key] and again.already_sent == [ALERT.ledger_key]
    assert len(receiver.received) == 1
    payload = receiver.received[0]
    assert payload["text"].startswith("*orders: 10 rows") and payload["churnmesh"]["kind"] == "volume"
    next_day = Alert(date(2025, 8, 2), ALERT.kind, ALERT.key, ALERT.title)
    assert deliver([next_day], OutboxChannel(tmp_path / "outbox.jsonl"), ledger).delivered == [next_day.ledger_key]


def test_a_failing_webhook_is_retried_then_recorded_undelivered(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    waits: list[float] = []
    with webhook_receiver(500) as receiver:
        report = deliver(
            [ALERT], WebhookChannel(receiver.url), ledger, attempts=3, backoff_seconds=0.5, sleep=waits.append
        )
        assert len(receiver.received) == 3
        assert waits == [0.5, 1.0]  # exponential backoff between attempts
        assert report.undelivered == [ALERT.ledger_key]
        record = json.loads(ledger.path.read_text().splitlines()[-1])
        assert record["status"] == "undelivered" and record["error"] == "webhook answered HTTP 500"
        assert receiver.url not in ledger.path.read_text()  # the URL is a secret
        receiver.status = 200  # the channel is back: the undelivered alert goes out on the next run
        assert deliver([ALERT], WebhookChannel(receiver.url), ledger, sleep=waits.append).delivered == [
            ALERT.ledger_key
        ]


def test_an_unreachable_webhook_does_not_raise(tmp_path: Path) -> None:
    with webhook_receiver(200) as receiver:
        url = receiver.url
    # the receiver is stopped: nothing listens on the port any more
    report = deliver(
        [ALERT], WebhookChannel(url, timeout=2), Ledger(tmp_path / "l.jsonl"), attempts=2, sleep=lambda _: None
    )
    assert report.undelivered == [ALERT.ledger_key]


def test_without_a_webhook_alerts_go_to_the_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    paths = DataPaths(tmp_path)
    channel = configured_channel(paths)
    assert isinstance(channel, OutboxChannel)
    deliver([ALERT], channel, Ledger(tmp_path / "ledger.jsonl"))
    (line,) = channel.path.read_text().splitlines()
    assert json.loads(line)["churnmesh"]["key"] == "orders"
    monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/hook")
    assert isinstance(configured_channel(paths), WebhookChannel)


def test_an_alert_cut_off_before_its_ledger_record_is_resent_under_the_same_key(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with webhook_receiver(200) as receiver:
        deliver([ALERT], WebhookChannel(receiver.url), ledger)
        # A run killed after the send and before "delivered": the ledger's last word is "sending".
        ledger.record(ALERT, "webhook", "sending", 0, None)
        again = deliver([ALERT], WebhookChannel(receiver.url), ledger)
    assert again.delivered == [ALERT.ledger_key]  # at least once: it cannot know the first arrived
    keys = [headers[IDEMPOTENCY_HEADER] for headers in receiver.headers]
    assert keys == [ALERT.idempotency_key] * 2  # so the receiver can drop the second copy
    assert [p["churnmesh"]["idempotency_key"] for p in receiver.received] == keys
    assert Alert(DAY, "volume", "orders", "other title").idempotency_key == ALERT.idempotency_key
    assert Alert(DAY, "volume", "customers", "t").idempotency_key != ALERT.idempotency_key


def test_a_ledger_record_cut_short_by_a_crash_does_not_block_delivery(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    outbox = OutboxChannel(tmp_path / "outbox.jsonl")
    other = Alert(DAY, "freshness", "orders", "orders: no new file")
    deliver([other], outbox, ledger)
    with ledger.path.open("a") as handle:
        handle.write('{"key": "2025-08-01|volume|orders", "sta')  # the rest never written
    assert ledger.statuses() == {other.ledger_key: "delivered"}
    assert deliver([ALERT, other], outbox, ledger).delivered == [ALERT.ledger_key]
    lines = ledger.path.read_text().splitlines()
    assert json.loads(lines[-1])["status"] == "delivered"  # on a line of its own after the torn one
    assert ledger.statuses() == {other.ledger_key: "delivered", ALERT.ledger_key: "delivered"}
