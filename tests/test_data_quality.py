"""Data-quality alerts: files rejected whole, quarantine spikes, field health and volume, and the
re-delivery of a corrected file. Unit cases run on ingestion alone; one daily-refresh scenario
(module fixture, real Prefect and SQLMesh) checks that the alerts go out and the marts are
published flagged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.testing.utilities import prefect_test_harness

from churnmesh import data_quality, publication
from churnmesh.cli import daily_refresh_run
from churnmesh.data_quality import QUARANTINE_MAX_SHARE, SUSPECT, TRUSTED
from churnmesh.generator import GeneratorConfig, generate
from churnmesh.ingestion import ingest
from churnmesh.orchestration.alerts import volume_anomalies
from churnmesh.orchestration.notify import WEBHOOK_ENV
from churnmesh.orchestration.quality_alerts import quarantine_spikes, rejected_files
from churnmesh.settings import DataPaths
from tests.helpers import query, write

CLEAN_END = date(2024, 2, 29)


def swap_headers(path: Path, first: str, second: str) -> bytes:
    """The file with two header names exchanged (the values stay where they are); returns the
    original bytes."""
    original = path.read_bytes()
    header, rest = original.split(b"\n", 1)
    names = header.decode().split(",")
    i, j = names.index(f'"{first}"'), names.index(f'"{second}"')
    names[i], names[j] = names[j], names[i]
    path.write_bytes(",".join(names).encode() + b"\n" + rest)
    return original


def rename_header(path: Path, old: str, new: str) -> bytes:
    original = path.read_bytes()
    header, rest = original.split(b"\n", 1)
    path.write_bytes(header.replace(f'"{old}"'.encode(), f'"{new}"'.encode()) + b"\n" + rest)
    return original


@pytest.fixture
def landing(clean_landing: Path, tmp_path: Path) -> Path:
    copied = tmp_path / "landing"
    shutil.copytree(clean_landing, copied)
    return copied


def test_a_rejected_file_alerts_and_its_corrected_version_loads_without_replace(landing: Path, warehouse: Path) -> None:
    day = CLEAN_END - timedelta(days=1)
    rel = f"orders/{day}.csv"
    original = rename_header(landing / rel, "unit_price_usd", "price_usd")
    ingest(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        (alert,) = [a for a in rejected_files(con, CLEAN_END) if a.data["file"] == rel]
    finally:
        con.close()
    assert alert.kind == "rejected_file" and alert.as_of == day
    assert alert.title.startswith(f"{rel} rejected whole: ") and "unit_price_usd" in alert.title
    assert any(f"same name ({rel})" in line for line in alert.lines)
    (landing / rel).write_bytes(original)  # the corrected re-export, under the same name
    (outcome,) = [o for o in ingest(landing, warehouse).outcomes if o.file_path == rel]
    assert outcome.status == "loaded" and outcome.rows_loaded > 0
    assert query(warehouse, "SELECT status FROM raw.ingest_manifest WHERE file_path = ?", [rel]) == [("loaded",)]
    (landing / rel).write_bytes(original.replace(b'"purchase"', b'"refund"', 1))
    (refused,) = [o for o in ingest(landing, warehouse).outcomes if o.file_path == rel]
    assert refused.status == "refused" and "--replace" in str(refused.reason), "a loaded file is still protected"


def test_a_rejected_file_rejected_again_is_recorded_once(landing: Path, warehouse: Path) -> None:
    rel = f"orders/{CLEAN_END}.csv"
    original = rename_header(landing / rel, "unit_price_usd", "price_usd")
    ingest(landing, warehouse)
    (landing / rel).write_bytes(original.replace(b'"unit_price_usd"', b'"unit_price"'))
    (outcome,) = [o for o in ingest(landing, warehouse).outcomes if o.file_path == rel]
    assert outcome.status == "rejected" and "unit_price_usd" in str(outcome.reason)
    rows = query(warehouse, "SELECT status, reason FROM raw.ingest_manifest WHERE file_path = ?", [rel])
    assert rows == [("rejected", outcome.reason)]


def test_a_quarantine_spike_alerts_with_the_file_and_its_top_reasons(landing: Path, warehouse: Path) -> None:
    rel = f"device_sessions/{CLEAN_END}.csv"
    header, *rows = (landing / rel).read_text().splitlines()
    pages = header.split(",").index('"pages_viewed"')
    broken = len(rows) // 3
    for n in range(broken):
        cells = rows[n].split(",")
        cells[pages] = '"-7"'
        rows[n] = ",".join(cells)
    write(landing / rel, "\n".join([header, *rows]) + "\n")
    ingest(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        alerts = quarantine_spikes(con, CLEAN_END)
    finally:
        con.close()
    (alert,) = [a for a in alerts if a.data["file"] == rel]
    assert broken / len(rows) > QUARANTINE_MAX_SHARE
    assert alert.title.startswith(f"{rel}: {broken:,} of {len(rows):,} rows quarantined")
    assert alert.title.endswith(f"top reasons: pages_viewed: '...' is below the minimum 0 ({broken})")
    assert alert.data["top_reasons"][0]["rows"] == broken
    assert [a.data["file"] for a in alerts] == [rel], "the clean files do not alert"


def test_volume_counts_rows_loaded_not_rows_received(landing: Path, warehouse: Path) -> None:
    source = "device_sessions"
    day, before = CLEAN_END, CLEAN_END - timedelta(days=1)
    today = (landing / source / f"{day}.csv").read_text().splitlines()
    replayed = (landing / source / f"{before}.csv").read_text().splitlines()[1:]
    # The day's own rows and the day before's, sent four more times: received x5, loaded as usual.
    write(landing / source / f"{day}.csv", "\n".join([*today, *(replayed * 4)]) + "\n")
    ingest(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert [a for a in volume_anomalies(con, day) if a.key == source] == []
        # The day's file again, every row now a replay: received as usual, nothing loaded.
        con.close()
        con = duckdb.connect(str(warehouse))
        con.execute(
            "UPDATE raw.ingest_manifest SET rows_duplicate = rows_duplicate + rows_loaded, rows_loaded = 0 "
            "WHERE file_path = ?",
            [f"{source}/{day}.csv"],
        )
        (alert,) = [a for a in volume_anomalies(con, day) if a.key == source]
    finally:
        con.close()
    assert alert.data["rows_loaded"] == 0 and alert.title.startswith(f"{source}: 0 rows loaded on {day}")


def test_field_health_finds_swapped_columns_and_nothing_in_clean_files(landing: Path, warehouse: Path) -> None:
    rel = f"device_sessions/{CLEAN_END}.csv"
    swap_headers(landing / rel, "pages_viewed", "events_fired")
    ingest(landing, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        findings = data_quality.field_health(con, date(2024, 1, 1), CLEAN_END)
        profiled = con.execute("SELECT count(DISTINCT file_path) FROM raw.field_profiles").fetchone()[0]
        loaded = con.execute(
            "SELECT count(*) FROM raw.ingest_manifest WHERE status = 'loaded' AND rows_loaded > 0"
        ).fetchone()[0]
    finally:
        con.close()
    assert profiled == loaded, "every loaded file has a profile"
    assert {f.file_path for f in findings} == {rel}
    # Events per session run a few times the pages: the smaller column moves past the factor.
    assert {f.column for f in findings} <= {"pages_viewed", "events_fired"} and findings


# ------------------------------------------------------------------ the daily refresh


# Enough orders a day for field health (FIELD_HEALTH_MIN_ROWS) and enough days for its history.
SCENARIO = GeneratorConfig(customers=1200, start=date(2024, 1, 25), end=date(2024, 2, 29), seed=5)
REJECTED_DAY, SWAPPED_DAY = date(2024, 2, 27), date(2024, 2, 28)


@dataclass
class Scenario:
    paths: DataPaths
    first: dict
    outbox: list[dict]
    published_first: tuple
    healed: dict
    published_healed: tuple
    originals: dict[str, bytes]


def _outbox(paths: DataPaths) -> list[dict]:
    path = paths.root / "notifications" / "outbox.jsonl"
    return [json.loads(line)["churnmesh"] for line in path.read_text().splitlines()] if path.exists() else []


def _about(paths: DataPaths) -> tuple:
    return query(
        publication.published_path(paths), "SELECT as_of_date, data_quality, data_quality_findings FROM churnmesh.about"
    )[0]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Day 02-27's orders arrive with unit_price_usd renamed, 02-28's with quantity and
    loyalty_points_earned swapped; the refresh of 02-28 runs; then the corrected files arrive
    (02-27 under the same name, 02-28 loaded with --replace) and the refresh of 02-29 runs."""
    paths = DataPaths(tmp_path_factory.mktemp("data_quality") / "data")
    generate(SCENARIO, paths.landing)
    originals = {
        f"orders/{REJECTED_DAY}.csv": rename_header(
            paths.landing / "orders" / f"{REJECTED_DAY}.csv", "unit_price_usd", "price_usd"
        ),
        f"orders/{SWAPPED_DAY}.csv": swap_headers(
            paths.landing / "orders" / f"{SWAPPED_DAY}.csv", "quantity", "loyalty_points_earned"
        ),
    }
    with pytest.MonkeyPatch.context() as patch, prefect_test_harness(server_startup_timeout=120):
        patch.delenv(WEBHOOK_ENV, raising=False)
        first, _ = daily_refresh_run(as_of=SWAPPED_DAY, data_dir=str(paths.root))  # stale: a file rejected
        outbox, published_first = _outbox(paths), _about(paths)
        for rel, content in originals.items():
            (paths.landing / rel).write_bytes(content)
        ingest(paths.landing, paths.warehouse, replace=True)  # what `churnmesh ingest --replace` does
        healed, _ = daily_refresh_run(as_of=date(2024, 2, 29), data_dir=str(paths.root))
        yield Scenario(paths, first, outbox, published_first, healed, _about(paths), originals)


def test_the_rejected_file_alerts_by_name_and_the_summary_names_it(scenario: Scenario) -> None:
    rel = f"orders/{REJECTED_DAY}.csv"
    (alert,) = [a for a in scenario.outbox if a["kind"] == "rejected_file"]
    assert alert["data"]["file"] == rel and "unit_price_usd" in alert["title"]
    summary = Path(scenario.first["report"]).read_text()
    assert f"- rejected whole: {rel}: missing required column(s): unit_price_usd" in summary
    assert alert["title"] in summary


def test_swapped_columns_alert_before_the_marts_and_flag_the_publication(scenario: Scenario) -> None:
    rel = f"orders/{SWAPPED_DAY}.csv"
    (alert,) = [a for a in scenario.outbox if a["kind"] == "field_health"]
    assert alert["data"]["source"] == "orders" and alert["data"]["file"] == rel
    assert {"quantity", "loyalty_points_earned"} <= set(alert["data"]["columns"])
    assert "quantity median" in alert["title"] and "trailing 28 days" in alert["title"]
    kinds = [a["kind"] for a in scenario.outbox]
    assert kinds.index("field_health") < min(
        (i for i, k in enumerate(kinds) if k not in ("rejected_file", "quarantine", "field_health")), default=99
    ), "the file alerts go out before the alerts read from the marts"
    as_of, state, findings = scenario.published_first
    assert (as_of, state) == (SWAPPED_DAY, SUSPECT)
    assert {f["column"] for f in json.loads(findings)} >= {"quantity", "loyalty_points_earned"}
    summary = Path(scenario.first["report"]).read_text()
    assert f"published flagged **{SUSPECT}**: field health fails for {rel}" in summary
    # Every row of the file is accounted for: loaded, quarantined or a duplicate.
    rows_in, accounted = query(
        scenario.paths.warehouse,
        "SELECT rows_in, rows_loaded + rows_rejected + rows_duplicate FROM raw.ingest_manifest WHERE file_path = ?",
        [rel],
    )[0]
    assert rows_in == accounted == len(scenario.originals[rel].splitlines()) - 1


def test_the_corrected_files_heal_the_facts_and_clear_the_flag(scenario: Scenario) -> None:
    orders = query(
        scenario.paths.warehouse,
        "SELECT order_date, count(*), sum(amount_usd) FROM core.fct_orders "
        "WHERE order_date IN (?, ?) GROUP BY 1 ORDER BY 1",
        [REJECTED_DAY, SWAPPED_DAY],
    )
    expected = query(
        scenario.paths.warehouse,
        "SELECT CAST(order_datetime AS DATE), count(*), "
        "sum(CAST(round(quantity * unit_price_usd, 2) AS DECIMAL(14, 2))) FROM raw.orders "
        "WHERE _source_file IN (?, ?) GROUP BY 1 ORDER BY 1",
        [f"orders/{REJECTED_DAY}.csv", f"orders/{SWAPPED_DAY}.csv"],
    )
    assert [d for d, *_ in orders] == [REJECTED_DAY, SWAPPED_DAY]
    assert orders == expected
    assert scenario.published_healed[:2] == (date(2024, 2, 29), TRUSTED)
    assert "no file of the days recomputed fails" in Path(scenario.healed["report"]).read_text()
