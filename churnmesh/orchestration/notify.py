"""Alerts to a person: a webhook (Slack-compatible JSON) or, with none configured, a JSONL outbox.

Every alert has a key, unique per as-of date. A ledger under $CHURNMESH_DATA_DIR records each
delivery, so rerunning a day sends nothing that was delivered already (an alert recorded as
undelivered is tried again). A failing channel is retried with exponential backoff and then
recorded as undelivered: notifications never fail the data pipeline.
"""

from __future__ import annotations

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
from typing import Protocol

from churnmesh.settings import DataPaths

log = logging.getLogger("churnmesh.notify")

WEBHOOK_ENV = "CHURNMESH_WEBHOOK_URL"
DELIVERY_ATTEMPTS = 4
BACKOFF_SECONDS = 1.0
WEBHOOK_TIMEOUT_SECONDS = 10.0


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

    def payload(self) -> dict[str, object]:
        """Slack-compatible: `text` is what a Slack incoming webhook shows; the rest is for machines."""
        text = "\n".join([f"*{self.title}*", *self.lines])
        return {"text": text, "churnmesh": {**asdict(self), "as_of": self.as_of.isoformat()}}


class Channel(Protocol):
    name: str

    def send(self, payload: dict[str, object]) -> None: ...


class DeliveryError(RuntimeError):
    pass


@dataclass
class WebhookChannel:
    url: str
    timeout: float = WEBHOOK_TIMEOUT_SECONDS
    name: str = "webhook"  # the URL is a secret: it is never logged or recorded

    def send(self, payload: dict[str, object]) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {type(reason).__name__}") from None


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
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if url:
        return WebhookChannel(url)
    return OutboxChannel(notifications_dir(paths) / "outbox.jsonl")


class Ledger:
    """Append-only JSONL record of deliveries; the last record of a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def statuses(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        result = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                result[record["key"]] = record["status"]
        return result

    def record(self, alert: Alert, channel: str, status: str, attempts: int, error: str | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "key": alert.ledger_key,
            "status": status,
            "channel": channel,
            "attempts": attempts,
            "error": error,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


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
        if sent.get(alert.ledger_key) == "delivered":
            report.already_sent.append(alert.ledger_key)
            continue
        log.warning("alert %s: %s", alert.kind, alert.title)
        error = _send_with_retries(alert, channel, attempts, backoff_seconds, sleep)
        status = "undelivered" if error else "delivered"
        ledger.record(alert, channel.name, status, attempts if error else 1, error)
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
