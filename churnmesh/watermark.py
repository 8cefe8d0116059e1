"""The data watermark: the last day the warehouse's data is complete for.

A day is complete when every daily source has delivered a file for it or for a later day (a file
counts when its rows reached raw: status `loaded`, or `skipped` as a re-delivery of loaded bytes;
a file rejected whole does not). The watermark is therefore the oldest of the sources' newest
delivered days, and it is None until every source has delivered once.

This is the one definition. The SQLMesh signal that gates every model (signals/__init__.py), the
default as-of date of every command and flow, the refusal of dates beyond it and the lag alert all
read it from here. It reads only ingestion's manifest, never the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import duckdb

from churnmesh.vocabulary import SOURCE_NAMES

DELIVERED_STATUSES = ("loaded", "skipped")
DAILY_SOURCES = SOURCE_NAMES

DELIVERED_SQL = "status IN ({statuses}) AND file_date IS NOT NULL AND source IN ({sources})".format(
    statuses=", ".join(f"'{s}'" for s in DELIVERED_STATUSES),
    sources=", ".join(f"'{s}'" for s in DAILY_SOURCES),
)
# Newest delivered day per source. Built from constants only: the signal runs it through SQLMesh's
# engine adapter, which takes no bound parameters.
NEWEST_BY_SOURCE_SQL = f"SELECT source, max(file_date) FROM raw.ingest_manifest WHERE {DELIVERED_SQL} GROUP BY source"
# The watermark in one query (NULL until every source has delivered), for the SQLMesh signal and
# the as_of_date() macro: SQLMesh serializes what those reference, so they take text, not functions.
WATERMARK_SQL = (
    f"SELECT CASE WHEN count(*) = {len(DAILY_SOURCES)} THEN min(newest) END "
    f"FROM (SELECT source, max(file_date) AS newest FROM raw.ingest_manifest WHERE {DELIVERED_SQL} GROUP BY source)"
)
MANIFEST_EXISTS_SQL = (
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'ingest_manifest'"
)


class Connection(Protocol):
    """A DuckDB connection (anything with `execute(sql).fetchall()`)."""

    def execute(self, query: str, parameters: Any = ...) -> Any: ...


FetchAll = Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Watermark:
    """The watermark and what it is made of: each source's newest delivered day."""

    day: date | None
    newest_by_source: dict[str, date]

    @property
    def frontier(self) -> date | None:
        """The newest day any source has delivered."""
        return max(self.newest_by_source.values(), default=None)

    @property
    def behind(self) -> list[str]:
        """The sources holding the watermark back: those that have not reached the frontier."""
        missing = [s for s in DAILY_SOURCES if s not in self.newest_by_source]
        return missing + [s for s, d in sorted(self.newest_by_source.items()) if d != self.frontier]

    def describe(self) -> str:
        """One line: the watermark and each source's newest delivered day."""
        newest = ", ".join(
            f"{s} {self.newest_by_source[s]}" if s in self.newest_by_source else f"{s} none" for s in DAILY_SOURCES
        )
        day = "none (not every source has delivered a file)" if self.day is None else str(self.day)
        return f"data watermark {day}; newest files: {newest}"


def read(con: Connection) -> Watermark:
    """The watermark of the warehouse `con` is connected to (None on a warehouse with no manifest)."""
    return read_with(lambda sql: con.execute(sql).fetchall())


def read_with(fetchall: FetchAll) -> Watermark:
    """The watermark through any query function (SQLMesh's engine adapter in the signal)."""
    if not fetchall(MANIFEST_EXISTS_SQL)[0][0]:
        return Watermark(None, {})
    newest = {source: as_date(day) for source, day in fetchall(NEWEST_BY_SOURCE_SQL)}
    day = min(newest.values()) if len(newest) == len(DAILY_SOURCES) else None
    return Watermark(day, newest)


def prod_as_of(con: Connection) -> date | None:
    """The day prod's marts describe (its features' as-of date), None before the first build."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'intermediate' AND table_name = 'int_customer_features'"
    ).fetchall()[0][0]
    return (
        con.execute("SELECT max(as_of_date) FROM intermediate.int_customer_features").fetchall()[0][0]
        if found
        else None
    )


def of_warehouse(warehouse: Path) -> Watermark:
    """The watermark of a warehouse file, opened read-only (None when there is no warehouse yet)."""
    if not warehouse.exists():
        return Watermark(None, {})
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return read(con)
    finally:
        con.close()


def as_date(value: Any) -> date:
    """A date from a DuckDB DATE or TIMESTAMP value."""
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def clamp(day: date, mark: Watermark) -> date:
    """`day`, or the watermark when that is earlier (a warehouse with no watermark leaves it)."""
    return day if mark.day is None or day <= mark.day else mark.day


class AheadOfData(ValueError):
    """A date past the watermark: the data does not cover it yet."""


def check_as_of(as_of: date | None, watermark: Watermark, what: str = "as-of date") -> date:
    """The as-of date to run for: `as_of` if the data covers it, the watermark when none is given."""
    if watermark.day is None:
        raise AheadOfData(f"no day is complete yet: {watermark.describe()}")
    if as_of is None:
        return watermark.day
    if as_of > watermark.day:
        raise AheadOfData(f"{what} {as_of} is past the data: {watermark.describe()}")
    return as_of
