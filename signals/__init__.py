"""SQLMesh signals: which scheduled intervals may run.

`data_complete` gates every model on the data watermark (churnmesh/watermark.py): an interval runs
only once every daily source has delivered its day. A plain `sqlmesh run` (which takes the wall
clock as its execution time), a nightly run or a backfill therefore never processes a day the data
does not cover; such intervals stay missing and run once their files are in.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

from sqlmesh import signal

from churnmesh.watermark import MANIFEST_EXISTS_SQL, WATERMARK_SQL


@signal()
def data_complete(batch: list[tuple[t.Any, t.Any]], context: t.Any) -> bool | list[tuple[t.Any, t.Any]]:
    """The intervals of `batch` that end on or before the day after the watermark."""
    adapter = context.engine_adapter
    if not adapter.fetchall(MANIFEST_EXISTS_SQL)[0][0]:
        return False
    day = adapter.fetchall(WATERMARK_SQL)[0][0]
    if day is None:
        return False
    limit = (day + timedelta(days=1)).isoformat()
    return [interval for interval in batch if interval[1].date().isoformat() <= limit]
