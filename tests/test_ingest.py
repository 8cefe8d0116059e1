"""Ingestion: every row is loaded, quarantined with a reason, or counted as a duplicate; reruns
change nothing; a crash mid-file leaves nothing of the file behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnmesh.contracts import SOURCES
from churnmesh.ingestion import ingest, loader
from churnmesh.ingestion.loader import BatchLoader
from tests.helpers import INGEST_TABLES, fingerprint, query, write

ORDER_HEADER = (
    "order_id,customer_id,order_datetime,order_type,original_order_id,product_id,product_category,"
    "quantity,unit_price_usd,device_type,order_channel,city,country,loyalty_points_earned"
)


def order_line(n: int, quantity: str = "1", customer: str = "C0000001") -> str:
    return f"O{n:09d},{customer},2024-03-01 10:00:00,purchase,,P001,electronics,{quantity},9.99,mobile,app,London,GB,9"


@pytest.fixture(scope="module")
def dirty_warehouse(dirty_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    ingest(dirty_landing, warehouse, chunk_rows=2_000)
    return warehouse


def test_every_file_has_one_manifest_row_that_adds_up(dirty_landing: Path, dirty_warehouse: Path) -> None:
    files = sorted(p.relative_to(dirty_landing).as_posix() for s in SOURCES for p in (dirty_landing / s.name).iterdir())
    manifest = query(
        dirty_warehouse,
        "SELECT file_path, rows_in, rows_loaded, rows_rejected, rows_duplicate, status "
        "FROM raw.ingest_manifest ORDER BY 1",
    )
    assert [m[0] for m in manifest] == files
    for path, rows_in, loaded, rejected, duplicate, status in manifest:
        assert rows_in == loaded + rejected + duplicate, path
        assert status in ("loaded", "rejected")


def test_manifest_counts_match_the_tables(dirty_warehouse: Path) -> None:
    for source in SOURCES:
        ((loaded, rejected),) = query(
            dirty_warehouse,
            "SELECT sum(rows_loaded), sum(rows_rejected) FROM raw.ingest_manifest "
            "WHERE source = ? AND status = 'loaded'",
            [source.name],
        )
        ((raw_rows,),) = query(dirty_warehouse, f"SELECT count(*) FROM raw.{source.name}")
        ((quarantined, unexplained),) = query(
            dirty_warehouse,
            f"SELECT count(*), count(*) FILTER (WHERE coalesce(_reject_reason, '') = '') FROM quarantine.{source.name}",
        )
        assert raw_rows == loaded
        assert quarantined == rejected
        assert unexplained == 0


def test_each_injected_row_fault_has_its_expected_outcome(dirty_landing: Path, dirty_warehouse: Path) -> None:
    faults = pd.read_csv(dirty_landing / "_truth" / "row_faults.csv")
    file_faults = pd.read_csv(dirty_landing / "_truth" / "file_faults.csv")
    faults = faults[~faults["file"].isin(file_faults["file"])]
    for source, group in faults.groupby("source"):
        loaded = set(query(dirty_warehouse, f"SELECT _source_file, _row_number FROM raw.{source}"))
        quarantined = set(query(dirty_warehouse, f"SELECT _source_file, _row_number FROM quarantine.{source}"))
        for file, row, fault, expected in group[["file", "row_number", "fault", "expected"]].itertuples(index=False):
            where = {"loaded": loaded, "quarantined": quarantined}
            at = (file, int(row))
            outcome = next((name for name, rows in where.items() if at in rows), "duplicate")
            assert outcome == expected, f"{fault} at {at} was {outcome}, expected {expected}"
        logged = {
            (f, int(r))
            for f, r, e in group[["file", "row_number", "expected"]].itertuples(index=False)
            if e == "quarantined"
        }
        clean_files = quarantined - {q for q in quarantined if q[0] in set(file_faults["file"])}
        assert clean_files <= logged, f"{source}: rows quarantined without an injected fault: {clean_files - logged}"


def test_each_injected_file_fault_has_its_expected_outcome(dirty_landing: Path, dirty_warehouse: Path) -> None:
    file_faults = pd.read_csv(dirty_landing / "_truth" / "file_faults.csv")
    manifest = {
        row[0]: row[1:]
        for row in query(dirty_warehouse, "SELECT file_path, status, reason, extra_columns FROM raw.ingest_manifest")
    }
    for file, fault, expected in file_faults[["file", "fault", "expected"]].itertuples(index=False):
        status, reason, extra = manifest[file]
        assert status == expected, f"{fault} in {file}"
        if expected == "rejected":
            assert reason
        if fault == "extra_column":
            assert extra == "export_batch"
        if fault == "truncated":
            source = file.split("/")[0]
            reasons = query(
                dirty_warehouse, f"SELECT _reject_reason FROM quarantine.{source} WHERE _source_file = ?", [file]
            )
            assert any("no line terminator" in r[0] for r in reasons)


def test_a_second_ingest_changes_nothing(dirty_landing: Path, dirty_warehouse: Path) -> None:
    before = fingerprint(dirty_warehouse)
    ((ingested_at,),) = query(dirty_warehouse, "SELECT max(ingested_at) FROM raw.ingest_manifest")
    report = ingest(dirty_landing, dirty_warehouse)
    assert {o.status for o in report.outcomes} == {"unchanged"}
    assert fingerprint(dirty_warehouse) == before
    assert query(dirty_warehouse, "SELECT max(ingested_at) FROM raw.ingest_manifest")[0][0] == ingested_at


def test_a_changed_file_is_refused_unless_replace_is_asked(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    path = write(landing / "orders" / "2024-03-01.csv", "\n".join([ORDER_HEADER, order_line(1), order_line(2)]) + "\n")
    ingest(landing, warehouse)
    write(path, "\n".join([ORDER_HEADER, order_line(1), order_line(3)]) + "\n")
    report = ingest(landing, warehouse)
    assert [o.status for o in report.outcomes] == ["refused"]
    assert "--replace" in report.outcomes[0].reason
    assert query(warehouse, "SELECT order_id FROM raw.orders ORDER BY 1") == [("O000000001",), ("O000000002",)]
    report = ingest(landing, warehouse, replace=True)
    assert [o.status for o in report.outcomes] == ["loaded"]
    assert query(warehouse, "SELECT order_id FROM raw.orders ORDER BY 1") == [("O000000001",), ("O000000003",)]
    assert query(warehouse, "SELECT count(*) FROM raw.ingest_manifest") == [(1,)]


class HashCounter:
    """Wraps the loader's sha256 to record which files were read to be hashed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashed: list[str] = []
        real = loader.sha256

        def counting(path: Path) -> str:
            self.hashed.append(path.name)
            return real(path)

        monkeypatch.setattr(loader, "sha256", counting)


@pytest.fixture
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as written (instead of 2 s later), so tests need not wait."""
    monkeypatch.setattr(loader, "SETTLED_NS", 0)


@pytest.mark.usefixtures("settled_at_once")
def test_files_with_their_recorded_stamp_are_not_hashed_again(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    old = write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    new = write(landing / "orders" / "2024-03-02.csv", f"{ORDER_HEADER}\n{order_line(2)}\n")
    counter = HashCounter(monkeypatch)
    report = ingest(landing, warehouse)
    assert {o.file_path: o.status for o in report.outcomes} == {
        "orders/2024-03-01.csv": "unchanged",
        "orders/2024-03-02.csv": "loaded",
    }
    assert counter.hashed == [new.name]
    counter.hashed.clear()
    ingest(landing, warehouse, replace=True)  # --replace reads every file
    assert sorted(counter.hashed) == [old.name, new.name]


@pytest.mark.usefixtures("settled_at_once")
def test_a_same_size_change_that_keeps_the_modification_time_is_still_found(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `cp -p` or `rsync -a` of a corrected export would leave it: other bytes, the same size
    and modification time. The change time still moves."""
    landing = tmp_path / "landing"
    path = write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    before = path.stat()
    write(path, f"{ORDER_HEADER}\n{order_line(2)}\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    counter = HashCounter(monkeypatch)
    assert [o.status for o in ingest(landing, warehouse).outcomes] == ["refused"]
    assert counter.hashed == [path.name]


@pytest.mark.usefixtures("settled_at_once")
def test_another_file_put_in_place_of_a_loaded_one_is_read(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A landing entry pointing to another file of the same size and time (a symlink moved)."""
    landing, exports = tmp_path / "landing", tmp_path / "exports"
    first = write(exports / "a.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    second = write(exports / "b.csv", f"{ORDER_HEADER}\n{order_line(2)}\n")
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))
    link = landing / "orders" / "2024-03-01.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(first)
    ingest(landing, warehouse)
    link.unlink()
    link.symlink_to(second)
    counter = HashCounter(monkeypatch)
    assert [o.status for o in ingest(landing, warehouse).outcomes] == ["refused"]
    assert counter.hashed == [link.name]


@pytest.mark.usefixtures("settled_at_once")
def test_a_rewritten_identical_file_is_hashed_once_then_known_by_its_new_stamp(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    path = write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    before = fingerprint(warehouse)
    path.write_bytes(path.read_bytes())  # copied again: same bytes, new stamp
    counter = HashCounter(monkeypatch)
    assert [o.status for o in ingest(landing, warehouse).outcomes] == ["unchanged"]
    assert [o.status for o in ingest(landing, warehouse).outcomes] == ["unchanged"]
    assert counter.hashed == [path.name]
    assert fingerprint(warehouse) == before


def test_a_file_still_being_written_when_loaded_is_hashed_again(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written within the file system's timestamp resolution of the load cannot be proved
    unchanged later by its stamp, so none is kept."""
    landing = tmp_path / "landing"
    path = write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    assert query(warehouse, "SELECT file_stamp FROM raw.ingest_manifest") == [(None,)]
    counter = HashCounter(monkeypatch)
    ingest(landing, warehouse)
    assert counter.hashed == [path.name]


@pytest.mark.usefixtures("settled_at_once")
def test_a_warehouse_from_before_file_stamps_gains_them(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("ALTER TABLE raw.ingest_manifest DROP COLUMN file_stamp")
    finally:
        con.close()
    assert [o.status for o in ingest(landing, warehouse).outcomes] == ["unchanged"]
    ((stamp,),) = query(warehouse, "SELECT file_stamp FROM raw.ingest_manifest")
    assert stamp is not None and stamp.startswith(f"{(landing / 'orders' / '2024-03-01.csv').stat().st_size}:")


def test_a_rejected_replacement_keeps_the_loaded_version(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    path = write(landing / "orders" / "2024-03-01.csv", f"{ORDER_HEADER}\n{order_line(1)}\n")
    ingest(landing, warehouse)
    before = fingerprint(warehouse)
    write(path, b"")
    report = ingest(landing, warehouse, replace=True)
    assert report.outcomes[0].status == "refused"
    assert "empty file" in report.outcomes[0].reason
    assert fingerprint(warehouse) == before


def test_rows_seen_before_are_duplicates_and_redeliveries_are_skipped(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    write(
        landing / "orders" / "2024-03-01.csv",
        "\n".join([ORDER_HEADER, order_line(1), order_line(2), order_line(1)]) + "\n",
    )
    write(landing / "orders" / "2024-03-02.csv", "\n".join([ORDER_HEADER, order_line(2), order_line(4)]) + "\n")
    shutil.copy(landing / "orders" / "2024-03-01.csv", landing / "orders" / "2024-03-03-resend.csv")
    report = ingest(landing, warehouse)
    by_file = {o.file_path: o for o in report.outcomes}
    first, second, resend = (by_file[f"orders/{n}.csv"] for n in ("2024-03-01", "2024-03-02", "2024-03-03-resend"))
    assert (first.rows_in, first.rows_loaded, first.rows_duplicate) == (3, 2, 1)
    assert (second.rows_in, second.rows_loaded, second.rows_duplicate) == (2, 1, 1)
    assert (resend.status, resend.rows_in, resend.rows_duplicate) == ("skipped", 3, 3)
    assert "same content as orders/2024-03-01.csv" in resend.reason
    assert query(warehouse, "SELECT count(*), count(DISTINCT order_id) FROM raw.orders") == [(3, 3)]


def test_two_versions_of_a_key_in_one_file_are_both_quarantined(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    write(
        landing / "orders" / "2024-03-01.csv",
        "\n".join([ORDER_HEADER, order_line(1, "1"), order_line(1, "2"), order_line(2)]) + "\n",
    )
    report = ingest(landing, warehouse)
    outcome = report.outcomes[0]
    assert (outcome.rows_loaded, outcome.rows_rejected) == (1, 2)
    reasons = query(warehouse, "SELECT _reject_reason, quantity FROM quarantine.orders ORDER BY _row_number")
    assert reasons == [
        ("key conflict: 2 different rows in this file have order_id=O000000001", "1"),
        ("key conflict: 2 different rows in this file have order_id=O000000001", "2"),
    ]


def test_a_new_version_of_a_key_in_a_later_file_is_kept(tmp_path: Path, warehouse: Path) -> None:
    """A move, a move back (identical but for updated_at: a new version), and a replay of the
    second version (identical: a duplicate)."""
    landing = tmp_path / "landing"
    header = (
        "customer_id,first_name,last_name,email,gender,date_of_birth,signup_datetime,city,country,"
        "marketing_opt_in,updated_at"
    )
    profile = "C0000001,Ana,Silva,ana@example.org,female,1990-01-01,2024-03-01 10:00:00"
    versions = {
        "2024-03-01": f"{profile},Lisbon,PT,true,2024-03-01 10:00:00",
        "2024-03-05": f"{profile},Porto,PT,false,2024-03-05 08:00:00",
        "2024-03-09": f"{profile},Lisbon,PT,true,2024-03-09 18:30:00",
        "2024-03-12": f"{profile},Porto,PT,false,2024-03-05 08:00:00",
    }
    for day, row in versions.items():
        write(landing / "customers" / f"{day}.csv", f"{header}\n{row}\n")
    report = {o.file_path: o for o in ingest(landing, warehouse).outcomes}
    assert report["customers/2024-03-12.csv"].rows_duplicate == 1
    assert query(warehouse, "SELECT city, marketing_opt_in FROM raw.customers ORDER BY _source_file") == [
        ("Lisbon", True),
        ("Porto", False),
        ("Lisbon", True),
    ]


WHOLE_FILE_FAULTS = [
    ("2024-03-01.csv", b"", "empty file (0 bytes)"),
    ("2024-03-02.csv", b"\n\n", "empty file (no header)"),
    (
        "2024-03-03.csv",
        ORDER_HEADER.replace(",quantity", "").encode() + b"\nx\n",
        "missing required column(s): quantity",
    ),
    (
        "2024-03-04.csv",
        (ORDER_HEADER.replace(",", ";") + "\n" + order_line(1).replace(",", ";") + "\n").encode(),
        "wrong delimiter: the header is separated by semicolon",
    ),
    (
        "2024-03-05.csv",
        (ORDER_HEADER + "\n" + order_line(1).replace("London", "Malmö") + "\n").encode("latin-1"),
        "not valid UTF-8 text (byte 0xf6)",
    ),
    ("2024-03-06.csv", (ORDER_HEADER + ",order_id\n").encode(), "duplicate column name(s) in header: order_id"),
    ("march.csv", (ORDER_HEADER + "\n").encode(), "does not start with a valid date"),
    ("2024-03-07.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
]


@pytest.mark.parametrize(("name", "content", "reason"), WHOLE_FILE_FAULTS)
def test_a_file_that_cannot_be_read_is_rejected_whole_with_its_reason(
    tmp_path: Path, warehouse: Path, name: str, content: bytes, reason: str
) -> None:
    landing = tmp_path / "landing"
    write(landing / "orders" / name, content)
    write(landing / "orders" / "2024-03-09.csv", f"{ORDER_HEADER}\n{order_line(9)}\n")
    report = ingest(landing, warehouse)
    by_file = {o.file_path: o for o in report.outcomes}
    bad = by_file[f"orders/{name}"]
    assert bad.status == "rejected"
    assert reason in bad.reason
    assert by_file["orders/2024-03-09.csv"].status == "loaded"
    assert query(warehouse, "SELECT count(*) FROM raw.orders WHERE _source_file = ?", [f"orders/{name}"]) == [(0,)]
    assert query(
        warehouse, "SELECT status, reason FROM raw.ingest_manifest WHERE file_path = ?", [f"orders/{name}"]
    ) == [("rejected", bad.reason)]


def test_bom_extra_columns_and_a_truncated_last_line_still_load(tmp_path: Path, warehouse: Path) -> None:
    landing = tmp_path / "landing"
    write(landing / "orders" / "2024-03-01.csv", b"\xef\xbb\xbf" + f"{ORDER_HEADER}\n{order_line(1)}\n".encode())
    write(landing / "orders" / "2024-03-02.csv", f"{ORDER_HEADER},batch\n{order_line(2)},b1\n")
    write(landing / "orders" / "2024-03-03.csv", f"{ORDER_HEADER}\n{order_line(3)}\r\n{order_line(4)[:-3]}")
    write(landing / "orders" / "2024-03-04.csv", f"{ORDER_HEADER}\n{order_line(5)}\n{order_line(6)},extra\n")
    report = {o.file_path: o for o in ingest(landing, warehouse).outcomes}
    assert report["orders/2024-03-01.csv"].rows_loaded == 1
    assert report["orders/2024-03-02.csv"].extra_columns == ("batch",)
    truncated = report["orders/2024-03-03.csv"]
    assert (truncated.rows_loaded, truncated.rows_rejected) == (1, 1)
    wide = report["orders/2024-03-04.csv"]
    assert (wide.rows_loaded, wide.rows_rejected) == (1, 1)
    reasons = query(
        warehouse, "SELECT _source_file, _reject_reason, _raw_line IS NOT NULL FROM quarantine.orders ORDER BY 1"
    )
    assert reasons == [
        ("orders/2024-03-03.csv", "last line has no line terminator: the file may be truncated", True),
        ("orders/2024-03-04.csv", "row has 15 fields, header has 14", True),
    ]


def test_a_crash_mid_file_leaves_nothing_and_a_rerun_converges(
    dirty_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(dirty_landing / "orders", landing / "orders")
    shutil.copytree(dirty_landing / "customers", landing / "customers")
    reference = tmp_path / "reference.duckdb"
    ingest(landing, reference, chunk_rows=500)

    crashed = tmp_path / "crashed.duckdb"
    original = BatchLoader._validate
    calls = {"n": 0}

    def crash_on_the_third_chunk(self: BatchLoader, source, pending) -> None:  # type: ignore[no-untyped-def]
        calls["n"] += source.name == "orders"
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash")
        original(self, source, pending)

    monkeypatch.setattr(BatchLoader, "_validate", crash_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        ingest(landing, crashed, chunk_rows=200, batch_bytes=10**9)
    partial = query(crashed, "SELECT count(*) FROM raw.orders")[0][0]
    in_manifest = query(crashed, "SELECT count(*) FROM raw.ingest_manifest WHERE source = 'orders'")[0][0]
    assert (partial, in_manifest) == (0, 0)
    monkeypatch.setattr(BatchLoader, "_validate", original)
    ingest(landing, crashed, chunk_rows=500)
    assert fingerprint(crashed) == fingerprint(reference)


def test_parquet_landing_files_load_like_csv(tmp_path: Path) -> None:
    from datetime import date

    from churnmesh.generator import GeneratorConfig, generate

    config = GeneratorConfig(customers=60, start=date(2024, 1, 1), end=date(2024, 1, 15), seed=2)
    generate(config, tmp_path / "csv")
    generate(GeneratorConfig(**{**config.__dict__, "file_format": "parquet"}), tmp_path / "pq")
    ingest(tmp_path / "csv", tmp_path / "csv.duckdb")
    ingest(tmp_path / "pq", tmp_path / "pq.duckdb")
    tables = tuple(t for t in INGEST_TABLES if t.startswith("raw.") and t != "raw.ingest_manifest")
    without_lineage = {t: query(tmp_path / "csv.duckdb", f"SELECT count(*) FROM {t}") for t in tables}
    assert without_lineage == {t: query(tmp_path / "pq.duckdb", f"SELECT count(*) FROM {t}") for t in tables}
    same = query(
        tmp_path / "csv.duckdb", "SELECT order_id, quantity, unit_price_usd, order_datetime FROM raw.orders ORDER BY 1"
    )
    assert same == query(
        tmp_path / "pq.duckdb", "SELECT order_id, quantity, unit_price_usd, order_datetime FROM raw.orders ORDER BY 1"
    )
