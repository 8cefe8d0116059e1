"""Alert delivery: webhook to a real receiver, retries, the outbox, and once per day."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from churnmesh import faults
from churnmesh.faults import FAIL_ENV
from churnmesh.orchestration.notify import (
    IDEMPOTENCY_HEADER,
    WEBHOOK_ENV,
    WEBHOOK_SECRET_BLOCK_ENV,
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


def test_the_payload_is_the_title_in_bold_over_the_lines_with_every_field_for_machines(tmp_path: Path) -> None:
    alert = Alert(DAY, "volume", "orders", "orders: 10 rows", ("first line", "second line"), {"rows": 10})
    with webhook_receiver(200) as receiver:
        deliver([alert], WebhookChannel(receiver.url), Ledger(tmp_path / "ledger.jsonl"))
    (payload,) = receiver.received
    assert payload == {
        "text": "*orders: 10 rows*\nfirst line\nsecond line",
        "churnmesh": {
            "as_of": "2025-08-01",
            "kind": "volume",
            "key": "orders",
            "title": "orders: 10 rows",
            "lines": ["first line", "second line"],
            "data": {"rows": 10},
            "idempotency_key": alert.idempotency_key,
        },
    }
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert alert.ledger_key == "2025-08-01|volume|orders" and len(alert.idempotency_key) == 32


def test_the_ledger_records_sending_then_the_outcome_of_each_alert(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    delivered_before = Alert(DAY, "freshness", "orders", "orders: no new file")
    outbox = OutboxChannel(tmp_path / "nested" / "outbox.jsonl")  # its folder is made on first use
    deliver([delivered_before], outbox, ledger)
    # An alert delivered before comes first: the ones after it are still sent.
    report = deliver([delivered_before, ALERT], outbox, ledger)
    assert (report.already_sent, report.delivered, report.undelivered) == (
        [delivered_before.ledger_key],
        [ALERT.ledger_key],
        [],
    )
    records = [(r["key"], r["status"], r["channel"], r["attempts"], r["error"]) for r in ledger.records()]
    assert records == [
        (delivered_before.ledger_key, "sending", "outbox", 0, None),
        (delivered_before.ledger_key, "delivered", "outbox", 1, None),
        (ALERT.ledger_key, "sending", "outbox", 0, None),
        (ALERT.ledger_key, "delivered", "outbox", 1, None),
    ]
    assert [json.loads(line)["churnmesh"]["key"] for line in outbox.path.read_text().splitlines()] == [
        "orders",
        "orders",
    ]


def test_an_undelivered_alert_records_every_attempt_and_the_next_alert_still_goes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with webhook_receiver(200) as receiver:
        url = receiver.url
    other = Alert(DAY, "freshness", "orders", "orders: no new file")
    report = deliver([ALERT, other], WebhookChannel(url, timeout=2), ledger, attempts=2, sleep=lambda _: None)
    assert report.undelivered == [ALERT.ledger_key, other.ledger_key]
    last = {r["key"]: r for r in ledger.records()}
    assert {r["attempts"] for r in last.values()} == {2}
    assert {r["error"] for r in last.values()} == {"webhook unreachable: ConnectionRefusedError"}


def test_a_malformed_webhook_url_is_an_undelivered_alert_that_names_no_url(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    report = deliver([ALERT], WebhookChannel("not a url"), ledger, attempts=1)
    assert report.undelivered == [ALERT.ledger_key]
    assert ledger.records()[-1]["error"] == "webhook request failed: ValueError"


def test_the_webhook_url_is_read_without_surrounding_blanks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(WEBHOOK_SECRET_BLOCK_ENV, raising=False)
    monkeypatch.setenv(WEBHOOK_ENV, "  http://127.0.0.1:9/hook \n")
    channel = configured_channel(DataPaths(tmp_path))
    assert isinstance(channel, WebhookChannel) and channel.url == "http://127.0.0.1:9/hook"
    assert "127.0.0.1" not in repr(channel)  # the URL is a secret
    monkeypatch.setenv(WEBHOOK_ENV, "   ")
    with caplog.at_level(logging.DEBUG, logger="churnmesh"):
        outbox = configured_channel(DataPaths(tmp_path))
    assert caplog.records == []  # no block named: none is looked up
    assert isinstance(outbox, OutboxChannel) and outbox.path == tmp_path / "notifications" / "outbox.jsonl"


def test_dates_and_decimals_in_an_alert_reach_the_webhook_and_the_outbox_as_text(tmp_path: Path) -> None:
    alert = Alert(DAY, "volume", "orders", "t", (), {"file_date": DAY, "mean": Decimal("60.5")})
    outbox = OutboxChannel(tmp_path / "outbox.jsonl")
    with webhook_receiver(200) as receiver:
        deliver([alert], WebhookChannel(receiver.url), Ledger(tmp_path / "webhook-ledger.jsonl"))
    deliver([alert], outbox, Ledger(tmp_path / "outbox-ledger.jsonl"))
    written = json.loads(outbox.path.read_text())
    for payload in (receiver.received[0], written):
        assert payload["churnmesh"]["data"] == {"file_date": "2025-08-01", "mean": "60.5"}


def test_a_payload_without_an_idempotency_key_goes_without_the_header(tmp_path: Path) -> None:
    with webhook_receiver(200) as receiver:
        WebhookChannel(receiver.url).send({"text": "plain"})
        WebhookChannel(receiver.url).send({"text": "odd", "churnmesh": "not a mapping"})
        WebhookChannel(receiver.url).send({"text": "empty key", "churnmesh": {"idempotency_key": ""}})
    assert [p["text"] for p in receiver.received] == ["plain", "odd", "empty key"]
    assert all(IDEMPOTENCY_HEADER not in h for h in receiver.headers)


def test_a_webhook_slower_than_its_timeout_is_undelivered_as_a_timeout(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with webhook_receiver(200) as receiver:
        receiver.delay_seconds = 3.0
        report = deliver([ALERT], WebhookChannel(receiver.url, timeout=0.3), ledger, attempts=1)
    assert report.undelivered == [ALERT.ledger_key]
    assert ledger.records()[-1]["error"] == "webhook unreachable: TimeoutError"


def test_each_ledger_record_is_stamped_in_utc_and_a_record_without_a_status_is_ignored(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    deliver([ALERT], OutboxChannel(tmp_path / "outbox.jsonl"), ledger)
    with ledger.path.open("a") as handle:
        handle.write(json.dumps({"key": "2025-08-02|volume|orders"}) + "\n")
        handle.write(json.dumps({"status": "delivered"}) + "\n")
    assert [r["key"] for r in ledger.records()] == [ALERT.ledger_key] * 2
    stamp = datetime.fromisoformat(ledger.records()[-1]["recorded_at"])
    assert stamp.utcoffset() == timedelta(0)


def test_delivery_logs_each_alert_a_resend_after_a_crash_and_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    outbox = OutboxChannel(tmp_path / "outbox.jsonl")
    with caplog.at_level(logging.WARNING, logger="churnmesh"):
        deliver([ALERT], outbox, ledger)
    assert [r.getMessage() for r in caplog.records] == [f"alert volume: {ALERT.title}"]
    caplog.clear()
    other = Alert(DAY, "freshness", "orders", "orders: no new file")
    ledger.record(other, "outbox", "sending", 0, None)
    with caplog.at_level(logging.WARNING, logger="churnmesh"):
        deliver([other], outbox, ledger)
    assert [r.getMessage() for r in caplog.records] == [
        "alert freshness may have gone out before a crash: resending it with the same key",
        "alert freshness: orders: no new file",
    ]
    caplog.clear()
    with webhook_receiver(200) as receiver:
        url = receiver.url
    late = Alert(DAY, "late_rows", "orders", "orders: late")
    with caplog.at_level(logging.WARNING, logger="churnmesh"):
        deliver([late], WebhookChannel(url, timeout=2), ledger, attempts=2, sleep=lambda _: None)
    assert caplog.records[-1].levelno == logging.ERROR
    assert caplog.records[-1].getMessage() == (
        "alert late_rows not delivered through the webhook after 2 attempts: "
        "webhook unreachable: ConnectionRefusedError"
    )


@pytest.mark.parametrize(
    ("point", "statuses", "sent_again"),
    [
        ("notify.after_send", ["sending", "sending", "delivered"], 1),
        ("notify.after_record", ["sending", "delivered"], 0),
    ],
)
def test_a_failure_after_the_send_resends_and_after_the_record_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, statuses: list[str], sent_again: int
) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with webhook_receiver(200) as receiver:
        monkeypatch.setattr(faults, "_reached", Counter())  # occurrences count per process: from here
        monkeypatch.setenv(FAIL_ENV, point)
        with pytest.raises(OSError, match="No space left on device"):
            deliver([ALERT], WebhookChannel(receiver.url), ledger)
        monkeypatch.delenv(FAIL_ENV)
        deliver([ALERT], WebhookChannel(receiver.url), ledger)
    assert len(receiver.received) == 1 + sent_again
    assert [r["status"] for r in ledger.records()] == statuses


def test_a_webhook_url_in_the_environment_wins_over_a_secret_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A block that cannot be read (no Prefect API answers) sends the alerts to the outbox, logged."""
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens on port 9
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    monkeypatch.setenv(WEBHOOK_SECRET_BLOCK_ENV, "churnmesh-webhook")
    monkeypatch.setenv(WEBHOOK_ENV, "http://127.0.0.1:9/hook")
    channel = configured_channel(DataPaths(tmp_path))
    assert isinstance(channel, WebhookChannel) and channel.url == "http://127.0.0.1:9/hook"
    monkeypatch.delenv(WEBHOOK_ENV)
    with caplog.at_level(logging.ERROR, logger="churnmesh"):
        fallback = configured_channel(DataPaths(tmp_path))
    assert isinstance(fallback, OutboxChannel)
    message = caplog.records[-1].getMessage()
    assert message.startswith("cannot read Prefect Secret block 'churnmesh-webhook' (")
    assert message.endswith("): alerts go to the outbox")
    assert re.search(r"\((\w+)\): alerts", message).group(1) not in ("None", "NoneType")  # the error's kind


def test_the_outbox_makes_its_folders_on_first_use(tmp_path: Path) -> None:
    outbox = OutboxChannel(tmp_path / "new" / "notifications" / "outbox.jsonl")
    deliver([ALERT], outbox, Ledger(tmp_path / "ledger.jsonl"))
    assert json.loads(outbox.path.read_text())["churnmesh"]["key"] == "orders"
