"""The campaign export: the one path that joins contact details back to customers.

A campaign is a segment of marts.mart_customer_360: one of its campaign eligibility flags
(retention, onboarding, premium) or an RFM segment. The export keeps the segment's customers whose
consent to marketing holds on the export date, that is in the most recent profile version exported
on or before it, takes their name and email from that same version, and writes a CSV that a
spreadsheet opens as text: every cell that a spreadsheet would read as a formula gets a leading
apostrophe (OWASP, CSV injection). Each row carries why the customer is there and what they are
worth: the churn probability, risk level and main reason, predicted CLV and revenue at risk, the
churn model's while one is live and the rule-based ones otherwise (risk_basis says which, as the
campaign flags of the mart use them), highest revenue at risk first. The file is written to a
temporary file, then renamed, so a reader never sees half an export; it is readable by its owner
only.

The warehouse is opened read-only; every value from the user reaches SQL as a bound parameter.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from churnmesh.parameters import InvalidParameter, customer_id, shown
from churnmesh.query import read_only
from churnmesh.settings import DataPaths
from churnmesh.vocabulary import CAMPAIGNS, RFM_SEGMENTS

log = logging.getLogger("churnmesh.export")

SEGMENTS = (*CAMPAIGNS, *RFM_SEGMENTS)

# What a campaign needs and no more: who, how to reach them, their country for the language, and
# what is at stake (to rank them, and to choose the offer by the reason).
CONTACT_COLUMNS = ("customer_id", "first_name", "last_name", "email", "country_code", "segment")
RISK_COLUMNS = (
    "churn_probability",
    "risk_level",
    "main_reason",
    "predicted_clv_usd",
    "revenue_at_risk_usd",
    "risk_basis",
)
EXPORT_COLUMNS = (*CONTACT_COLUMNS, *RISK_COLUMNS)

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Built from the constants above only; the segment and dates are bound parameters.
_IN_SEGMENT = (
    "CASE $segment "
    + " ".join(f"WHEN '{name}' THEN m.{flag}" for name, flag in CAMPAIGNS.items())
    + " ELSE m.rfm_segment = $segment END"
)


def _export_sql(membership: str) -> str:
    """The export query for the customers `membership` (a predicate on m) selects."""
    return f"""
WITH consent AS (
  -- the profile version in force on the export date: the last one exported on or before it
  SELECT customer_id, first_name, last_name, email, country_code, marketing_opt_in
  FROM staging.stg_customers
  WHERE exported_on <= $as_of
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY exported_on DESC, updated_at DESC) = 1
)
SELECT c.customer_id, c.first_name, c.last_name, c.email, c.country_code, $segment AS segment,
       -- the level, reason and value the campaign flags used: the churn model's while one is live
       round(m.churn_probability, 4) AS churn_probability,
       m.campaign_risk_level AS risk_level,
       CASE m.campaign_risk_basis WHEN 'model' THEN m.primary_churn_reason ELSE m.primary_risk_reason END
         AS main_reason,
       round(m.predicted_clv_usd, 2) AS predicted_clv_usd,
       round(m.campaign_revenue_at_risk_usd, 2) AS revenue_at_risk_usd,
       m.campaign_risk_basis AS risk_basis,
       c.marketing_opt_in IS TRUE AS opted_in
FROM marts.mart_customer_360 AS m
JOIN consent AS c ON m.customer_id = c.customer_id
WHERE {membership}
ORDER BY m.campaign_revenue_at_risk_usd DESC NULLS LAST, c.customer_id
"""


EXPORT_SQL = _export_sql(_IN_SEGMENT)
# A list of customer ids (the dashboard's campaign simulator), bound as one list parameter.
LIST_EXPORT_SQL = _export_sql("list_contains($customers, m.customer_id)")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    segment: str
    as_of: date
    marts_as_of: date  # the date the segment membership describes
    customers: int  # written
    without_consent: int  # in the segment, left out: no marketing consent on the export date


def segment(value: object) -> str:
    """A known campaign or RFM segment name."""
    if value not in SEGMENTS:
        raise InvalidParameter(
            f"unknown segment {shown(value)}: a campaign ({', '.join(CAMPAIGNS)}) "
            f"or an RFM segment ({', '.join(RFM_SEGMENTS)})"
        )
    return str(value)


def spreadsheet_safe(value: object) -> str:
    """The cell as text a spreadsheet will not evaluate: a leading apostrophe before a formula
    character makes Excel, LibreOffice and Google Sheets show the text as it is."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def export_campaign(paths: DataPaths, segment_name: str, out: Path, as_of: date | None = None) -> ExportResult:
    """Write the contact details of `segment_name`'s consenting customers to `out` (CSV).

    `as_of` is the export date whose consent counts (default: the date the marts describe); it
    may not be before the marts' date, or segment membership would come from after it."""
    name = segment(segment_name)
    return _export(paths, EXPORT_SQL, {"segment": name}, name, out, as_of)


def export_customers(
    paths: DataPaths, customer_ids: Sequence[str], label: str, out: Path, as_of: date | None = None
) -> ExportResult:
    """The same export for a list of customers (e.g. a simulated campaign's target), labelled
    `label` in the segment column; consent is checked as for a segment."""
    ids = [customer_id(c, "customer id") for c in customer_ids]
    return _export(paths, LIST_EXPORT_SQL, {"customers": ids, "segment": label}, label, out, as_of)


def _export(
    paths: DataPaths, sql: str, params: dict[str, object], label: str, out: Path, as_of: date | None
) -> ExportResult:
    _refuse_warehouse_files(paths, out)
    if not paths.warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: run `churnmesh pipeline` first")
    try:
        with read_only(paths) as con:
            marts_as_of = _marts_as_of(con)
            as_of = as_of or marts_as_of
            if as_of < marts_as_of:
                raise InvalidParameter(
                    f"export date {as_of} is before {marts_as_of}, the date the marts describe: "
                    "segment membership would come from after the export date"
                )
            rows = con.execute(sql, {**params, "as_of": as_of}).fetchall()
    except duckdb.Error as exc:  # e.g. a damaged file: one line, not a traceback
        raise ValueError(f"cannot read {paths.warehouse}: {str(exc).splitlines()[0]}") from exc
    consenting = [row[:-1] for row in rows if row[-1]]
    write_csv_atomically(out, EXPORT_COLUMNS, consenting)
    result = ExportResult(out, label, as_of, marts_as_of, len(consenting), len(rows) - len(consenting))
    log.info(
        "exported %d customers of segment %s as of %s to %s (%d left out without marketing consent)",
        result.customers,
        label,
        as_of,
        out,
        result.without_consent,
    )
    return result


def _marts_as_of(con: duckdb.DuckDBPyConnection) -> date:
    (marts_as_of,) = con.execute("SELECT max(as_of_date) FROM marts.mart_customer_360").fetchone()
    if marts_as_of is None:
        raise ValueError("marts.mart_customer_360 is empty: run `churnmesh pipeline` first")
    return marts_as_of


def _refuse_warehouse_files(paths: DataPaths, out: Path) -> None:
    if out.resolve() in (paths.warehouse.resolve(), paths.state.resolve()):
        raise InvalidParameter(f"will not write an export over the warehouse's own file {shown(str(out))}")


def write_csv_atomically(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """The whole file or nothing: written beside `path`, synced, then renamed over it. mkstemp
    creates the file readable by its owner only, which suits a file of contact details."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([spreadsheet_safe(cell) for cell in header])
            writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
