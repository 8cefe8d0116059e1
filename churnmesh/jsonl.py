"""Append-only JSON Lines files that survive a crash: each record is written whole with its line
end and synced before the call returns; a record cut short by a crash is skipped on reading."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("churnmesh.jsonl")


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A record cut short by a crash must not swallow the next one: start on a fresh line.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(("\n" if _torn(path) else "") + json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The file's records in order; blank lines and records cut short by a crash are skipped."""
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("ignoring an incomplete record in %s: %.80s", path.name, line)
            continue
        if isinstance(record, dict):
            yield record


def _torn(path: Path) -> bool:
    """Whether the last record lacks its line end (the process died while writing it)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
