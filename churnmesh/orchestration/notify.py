"""Alerts to a person: a webhook (Slack-compatible JSON) or, with none configured, a JSONL outbox.

Every alert has a key, unique per as-of date. A ledger under $CHURNMESH_DATA_DIR records each
delivery, so rerunning a day sends nothing that was delivered already (an alert recorded as
undelivered is tried again). A failing channel is retried with exponential backoff and then
recorded as undelivered: notifications never fail the data pipeline.

Delivery is at least once, with an idempotency key. The ledger says "sending" before an alert
goes out and "delivered" after; a process killed between the two cannot know whether the
receiver got it, so the next run sends it again. Every copy carries the same key (the
`Idempotency-Key` header and `churnmesh.idempotency_key` in the body, derived from the ledger
key), so a receiver that keeps the keys it has seen shows each alert once.

The webhook URL is a secret (a Slack webhook carries its token in the path). It comes from the
environment (CHURNMESH_WEBHOOK_URL) or from the Prefect Secret block named by
CHURNMESH_WEBHOOK_SECRET_BLOCK, never from a file, and no log line, ledger record, error message
or repr carries it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from churnmesh import jsonl
from churnmesh.faults import crash_point
from churnmesh.settings import DataPaths

log = logging.getLogger("churnmesh.notify")

WEBHOOK_ENV = "CHURNMESH_WEBHOOK_URL"
WEBHOOK_SECRET_BLOCK_ENV = "CHURNMESH_WEBHOOK_SECRET_BLOCK"
DELIVERY_ATTEMPTS = 4
BACKOFF_SECONDS = 1.0
WEBHOOK_TIMEOUT_SECONDS = 10.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
SENDING, DELIVERED, UNDELIVERED = "sending", "delivered", "undelivered"


@dataclass(frozen=True)
class Alert:
    as_of: date
    kind: str  # high_risk_transition, audit_failure, run_failed, freshness, volume, late_rows
    key: str  # what makes the alert unique within its day and kind (a source, a model and audit)
    title: str
    lines: tuple[str, ...] = ()
    data: dict[str, object] = field(default_factory=dict)

    @property
    def ledger_key(self) -> str:
        return f"{self.as_of.isoformat()}|{self.kind}|{self.key}"

    @property
    def idempotency_key(self) -> str:
        """Stable across runs and resends; a hash, since keys may hold text unfit for a header."""
        return hashlib.sha256(self.ledger_key.encode()).hexdigest()[:32]

    def payload(self) -> dict[str, object]:
        """Slack-compatible: `text` is what a Slack incoming webhook shows; the rest is for machines."""
        text = "\n".join([f"*{self.title}*", *self.lines])
        details = {**asdict(self), "as_of": self.as_of.isoformat(), "idempotency_key": self.idempotency_key}
        return {"text": text, "churnmesh": details}


class Channel(Protocol):
    name: str

    def send(self, payload: dict[str, object]) -> None: ...


class DeliveryError(RuntimeError):
    pass


@dataclass
class WebhookChannel:
    url: str = field(repr=False)  # a secret: never in a repr, a log line or a record
    timeout: float = WEBHOOK_TIMEOUT_SECONDS
    name: str = "webhook"

    def send(self, payload: dict[str, object]) -> None:
        headers = {"Content-Type": "application/json"}
        details = payload.get("churnmesh")
        if isinstance(details, dict) and details.get("idempotency_key"):
            headers[IDEMPOTENCY_HEADER] = str(details["idempotency_key"])
        # Errors name their kind only: urllib's own messages can quote the URL.
        try:
            request = urllib.request.Request(
                self.url, data=json.dumps(payload, default=str).encode(), headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {type(reason).__name__}") from None
        except (ValueError, http.client.HTTPException) as exc:  # a malformed URL or answer
            raise DeliveryError(f"webhook request failed: {type(exc).__name__}") from None


@dataclass
class OutboxChannel:
    path: Path
    name: str = "outbox"

    def send(self, payload: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def notifications_dir(paths: DataPaths) -> Path:
    return paths.root / "notifications"


def configured_channel(paths: DataPaths) -> Channel:
    """The webhook whose URL is in the environment, else the one in the named Prefect Secret
    block, else the outbox."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    block = os.environ.get(WEBHOOK_SECRET_BLOCK_ENV, "").strip()
    if not url and block:
        url = _secret_block_value(block)
    if url:
        return WebhookChannel(url)
    return OutboxChannel(notifications_dir(paths) / "outbox.jsonl")


def _secret_block_value(name: str) -> str:
    """The block's value; "" if it cannot be read, logged by the block's name: the alerts then go
    to the outbox, so they are kept and the pipeline goes on."""
    from prefect.blocks.system import Secret  # imported when configured only: Prefect is slow to import

    try:
        return str(Secret.load(name).get()).strip()
    except Exception as exc:  # a missing block, no Prefect API
        log.error("cannot read Prefect Secret block %r (%s): alerts go to the outbox", name, type(exc).__name__)
        return ""


class Ledger:
    """Append-only JSONL record of deliveries; the last record of a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def statuses(self) -> dict[str, str]:
        return {r["key"]: r["status"] for r in self.records()}

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, in order (one cut short by a crash is skipped: its alert is sent again)."""
        return [r for r in jsonl.records(self.path) if "key" in r and "status" in r]

    def record(self, alert: Alert, channel: str, status: str, attempts: int, error: str | None) -> None:
        entry = {
            "key": alert.ledger_key,
            "status": status,
            "channel": channel,
            "attempts": attempts,
            "error": error,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        jsonl.append(self.path, entry)


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)


def deliver(
    alerts: list[Alert],
    channel: Channel,
    ledger: Ledger,
    attempts: int = DELIVERY_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    report = DeliveryReport()
    sent = ledger.statuses()
    for alert in alerts:
        previous = sent.get(alert.ledger_key)
        if previous == DELIVERED:
            report.already_sent.append(alert.ledger_key)
            continue
        if previous == SENDING:
            log.warning("alert %s may have gone out before a crash: resending it with the same key", alert.kind)
        log.warning("alert %s: %s", alert.kind, alert.title)
        ledger.record(alert, channel.name, SENDING, 0, None)
        error = _send_with_retries(alert, channel, attempts, backoff_seconds, sleep)
        crash_point("notify.after_send")
        status = UNDELIVERED if error else DELIVERED
        ledger.record(alert, channel.name, status, attempts if error else 1, error)
        crash_point("notify.after_record")
        (report.undelivered if error else report.delivered).append(alert.ledger_key)
        if error:
            log.error(
                "alert %s not delivered through the %s after %d attempts: %s", alert.kind, channel.name, attempts, error
            )
    return report


def _send_with_retries(
    alert: Alert, channel: Channel, attempts: int, backoff_seconds: float, sleep: Callable[[float], None]
) -> str | None:
    error = None
    for attempt in range(attempts):
        try:
            channel.send(alert.payload())
            return None
        except DeliveryError as exc:
            error = str(exc)
            if attempt < attempts - 1:
                sleep(backoff_seconds * 2**attempt)
    return error
