"""Replays and late data through the daily pipeline: ingest, SQLMesh run and data alerts, the
functions the daily refresh flow's tasks call (the flow itself is tested in test_flows.py; its run
summary lists the same alerts).

- Every landing file delivered again, under its own name and as a copy under a new one, changes
  no raw table and no mart.
- Rows that arrive late but within the lookback reach the marts on the next daily run.
- Rows later than the lookback are reported by the late-rows alert and restated automatically
  after the run (churnmesh/orchestration/late_changes.py), which brings the marts to the state of
  a full rebuild from scratch on the same raw data; the restatement the alert prints
  (`churnmesh backfill --start --end --model core.fct_orders --restate`) leaves them there.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from churnmesh.cli import build_parser
from churnmesh.contracts import SOURCES, SOURCES_BY_NAME
from churnmesh.generator import GeneratorConfig, generate
from churnmesh.ingestion import ingest
from churnmesh.orchestration.alerts import data_alerts
from churnmesh.orchestration.notify import Alert
from churnmesh.orchestration.operations import backfill
from churnmesh.orchestration.refresh import refresh_warehouse
from churnmesh.settings import DataPaths, business_definitions
from churnmesh.warehouse import MARTS, build_prod
from tests.checksums import Checksum, table_checksums
from tests.helpers import INGEST_TABLES, LOAD_STATE_COLUMNS, query

AS_OF = date(2024, 1, 25)
NEXT_DAY = AS_OF + timedelta(days=1)
LATE_DAY = NEXT_DAY + timedelta(days=1)  # the day a file of late orders arrives
# The smallest history with every source, a lookback window, days beyond it, and enough repeat
# purchases for the CLV model to fit (with 20 days it cannot, and the plan fails).
# The files of the days after AS_OF wait in pending/ and land on their day's run, so every daily
# run has every source's file of its day (the data watermark reaches it).
REPLAY_DATA = GeneratorConfig(customers=60, start=date(2024, 1, 1), end=LATE_DAY, seed=11)
LOOKBACK_DAYS = int(business_definitions()["late_data_lookback_days"])
INSIDE_LOOKBACK = LATE_DAY - timedelta(days=3)
BEYOND_LOOKBACK = LATE_DAY - timedelta(days=LOOKBACK_DAYS + 5)
LATE_AMOUNT_USD = 1000.0
LATE_FILE = f"orders/{LATE_DAY}-late.csv"
PENDING = "pending"  # under the data folder: the files of days not yet delivered

RAW_TABLES = tuple(t for t in INGEST_TABLES if t != "raw.ingest_manifest")  # raw.<source> and quarantine.<source>
# The marts and the incremental tables under them (what a restatement recomputes).
MART_TABLES = (*MARTS, "core.fct_orders", "core.fct_sessions", "intermediate.int_customer_daily_metrics")
# Sums over the same rows in another order (a restated table, a rebuilt one) differ in the last bits.
FLOAT_DECIMALS = 6


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """A warehouse loaded and built as of AS_OF; copy it before changing anything."""
    paths = DataPaths(tmp_path_factory.mktemp("replay") / "data")
    generate(REPLAY_DATA, paths.landing)
    for later in [p for s in SOURCES for p in (paths.landing / s.name).glob("*") if p.name[:10] > str(AS_OF)]:
        (paths.root / PENDING / later.parent.name).mkdir(parents=True, exist_ok=True)
        later.rename(paths.root / PENDING / later.parent.name / later.name)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, AS_OF)
    return paths


def copy_of(paths: DataPaths, root: Path) -> DataPaths:
    copy = DataPaths(root / "data")
    shutil.copytree(paths.root, copy.root)
    return copy


def checksums(
    paths: DataPaths, tables: tuple[str, ...], exclude_columns: tuple[str, ...] = (), leave_out: Iterable[str] = ()
) -> dict[str, Checksum]:
    return table_checksums(
        paths.warehouse, tables, exclude_columns=exclude_columns, leave_out=leave_out, float_decimals=FLOAT_DECIMALS
    )


def landing_files(paths: DataPaths) -> list[Path]:
    return sorted(p for s in SOURCES for p in (paths.landing / s.name).glob("*") if p.is_file())


def redeliver_everything(paths: DataPaths) -> dict[str, str]:
    """Every file written again under its own name, and copied under a new one. Returns the
    copies' landing paths, each with the original's."""
    copies = {}
    for path in landing_files(paths):
        content = path.read_bytes()
        path.write_bytes(content)
        copy = path.with_name(f"{path.stem}-redelivered{path.suffix}")
        copy.write_bytes(content)
        copies[copy.relative_to(paths.landing).as_posix()] = path.relative_to(paths.landing).as_posix()
    return copies


def daily_run(paths: DataPaths, as_of: date) -> list[Alert]:
    """The daily refresh without Prefect: the day's files arrive, ingest new files, run SQLMesh up
    to `as_of` (which restates what changed behind the lookback), collect the data alerts."""
    for arriving in sorted((paths.root / PENDING).glob(f"*/{as_of}*")):
        arriving.rename(paths.landing / arriving.parent.name / arriving.name)
    ingest(paths.landing, paths.warehouse)
    refresh_warehouse(paths, as_of)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return data_alerts(con, as_of)
    finally:
        con.close()


@pytest.fixture(scope="module")
def next_day(built: DataPaths, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    """The built warehouse after the next daily run, with nothing re-delivered."""
    paths = copy_of(built, tmp_path_factory.mktemp("next_day"))
    daily_run(paths, NEXT_DAY)
    return paths


def test_redelivering_every_file_changes_no_raw_table_and_no_mart(
    built: DataPaths, next_day: DataPaths, tmp_path: Path
) -> None:
    replayed = copy_of(built, tmp_path)
    originals = {p.relative_to(replayed.landing).as_posix() for p in landing_files(replayed)}
    copies = redeliver_everything(replayed)

    outcomes = {o.file_path: o for o in ingest(replayed.landing, replayed.warehouse).outcomes}
    assert {outcomes[name].status for name in originals} == {"unchanged"}
    for copy, original in copies.items():
        outcome = outcomes[copy]
        assert outcome.rows_loaded == 0 and outcome.rows_rejected == 0 and outcome.rows_duplicate == outcome.rows_in
        if outcome.rows_in:  # a file of only a header has no rows to compare
            assert outcome.status == "skipped" and outcome.reason == f"same content as {original}"
    assert checksums(replayed, RAW_TABLES) == checksums(built, RAW_TABLES)
    manifest = ("raw.ingest_manifest",)
    assert checksums(replayed, manifest, LOAD_STATE_COLUMNS, leave_out=copies) == checksums(
        built, manifest, LOAD_STATE_COLUMNS
    )

    daily_run(replayed, NEXT_DAY)  # the day's own files are ingested now: compare without load times
    compared = (*RAW_TABLES, *MART_TABLES)
    assert checksums(replayed, compared, LOAD_STATE_COLUMNS) == checksums(next_day, compared, LOAD_STATE_COLUMNS)


@dataclass(frozen=True)
class LateRun:
    paths: DataPaths
    customer: str
    monetary_before: float
    alerts: list[Alert]


def write_late_orders(paths: DataPaths, customer: str) -> None:
    """A file dated LATE_DAY with one purchase dated inside the lookback and one beyond it."""
    header = ",".join(SOURCES_BY_NAME["orders"].column_names)
    rows = [
        f"{order_id},{customer},{day} 12:00:00,purchase,,P001,electronics,1,{LATE_AMOUNT_USD:.2f},mobile,app,"
        f"London,GB,1000"
        for order_id, day in (("O800000001", INSIDE_LOOKBACK), ("O800000002", BEYOND_LOOKBACK))
    ]
    (paths.landing / LATE_FILE).write_text("\n".join([header, *rows]) + "\n")


def monetary(paths: DataPaths, customer: str) -> float:
    ((value,),) = query(
        paths.warehouse, "SELECT monetary_usd FROM marts.mart_customer_360 WHERE customer_id = ?", [customer]
    )
    return float(value)


@pytest.fixture(scope="module")
def late_run(next_day: DataPaths, tmp_path_factory: pytest.TempPathFactory) -> LateRun:
    """The daily run of LATE_DAY, after a file of late orders arrived."""
    paths = copy_of(next_day, tmp_path_factory.mktemp("late"))
    ((customer,),) = query(paths.warehouse, "SELECT min(customer_id) FROM core.dim_customers")
    before = monetary(paths, customer)
    write_late_orders(paths, customer)
    return LateRun(paths, customer, before, daily_run(paths, LATE_DAY))


def orders_in_facts(paths: DataPaths) -> set[str]:
    found = query(
        paths.warehouse, "SELECT order_id FROM core.fct_orders WHERE order_id IN ('O800000001', 'O800000002')"
    )
    return {order_id for (order_id,) in found}


def test_rows_late_within_the_lookback_reach_the_marts_on_the_next_daily_run(late_run: LateRun) -> None:
    assert "O800000001" in orders_in_facts(late_run.paths)
    reported = [(a.data["first_date"], a.data["rows"]) for a in late_run.alerts if a.kind == "late_rows"]
    assert reported == [(str(BEYOND_LOOKBACK), 1)], "only the row beyond the lookback is reported late"


def test_rows_beyond_the_lookback_are_reported_restated_and_equal_a_full_rebuild(
    late_run: LateRun, tmp_path: Path
) -> None:
    (alert,) = [a for a in late_run.alerts if a.kind == "late_rows"]
    assert (alert.key, alert.data["rows"], alert.data["first_date"], alert.data["last_date"]) == (
        "orders",
        1,
        str(BEYOND_LOOKBACK),
        str(BEYOND_LOOKBACK),
    )
    assert f"later than the {LOOKBACK_DAYS}-day lookback" in alert.title
    assert alert.lines[0].startswith("Restated automatically after the day's run: core.fct_orders")
    command = alert.lines[-1].split(": ", 1)[1]
    assert (
        command
        == f"churnmesh backfill --restate --model core.fct_orders --start {BEYOND_LOOKBACK} --end {BEYOND_LOOKBACK}"
    )
    assert orders_in_facts(late_run.paths) == {"O800000001", "O800000002"}, "restated after the run"
    assert monetary(late_run.paths, late_run.customer) == pytest.approx(late_run.monetary_before + 2 * LATE_AMOUNT_USD)

    restated = copy_of(late_run.paths, tmp_path / "restated")
    # The restatement the alert prints, as the command line parses it; its flow calls backfill().
    args = build_parser().parse_args(command.split()[1:])
    assert (args.start, args.end, args.models, args.restate) == (
        BEYOND_LOOKBACK,
        BEYOND_LOOKBACK,
        ["core.fct_orders"],
        True,
    )
    backfill(restated, args.start, args.end, args.models, restate=args.restate)
    assert orders_in_facts(restated) == {"O800000001", "O800000002"}
    assert monetary(restated, late_run.customer) == pytest.approx(late_run.monetary_before + 2 * LATE_AMOUNT_USD)

    rebuilt = DataPaths(tmp_path / "rebuilt")
    shutil.copytree(late_run.paths.landing, rebuilt.landing)
    ingest(rebuilt.landing, rebuilt.warehouse)
    build_prod(rebuilt, LATE_DAY)
    tables = (*RAW_TABLES, "raw.ingest_manifest", *MART_TABLES)
    expected = checksums(rebuilt, tables, exclude_columns=LOAD_STATE_COLUMNS)
    assert checksums(late_run.paths, tables, exclude_columns=LOAD_STATE_COLUMNS) == expected
    assert checksums(restated, tables, exclude_columns=LOAD_STATE_COLUMNS) == expected
