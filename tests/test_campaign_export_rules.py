"""The campaign export's rules on a small hand-made warehouse (a real DuckDB file): whose consent
counts on the export date, which profile version gives the name, the order, the rounding, what is
refused. tests/test_privacy.py runs the same export on a built and scored warehouse."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from churnmesh.parameters import InvalidParameter, shown
from churnmesh.privacy.export import (
    CAMPAIGNS,
    EXPORT_COLUMNS,
    RFM_SEGMENTS,
    ExportResult,
    export_campaign,
    export_customers,
    write_csv_atomically,
)
from churnmesh.settings import DataPaths

MARTS_AS_OF = date(2025, 6, 30)
# customer, exported_on, updated_at, first name, email, opted in: each row a profile version.
PROFILES = [
    ("C0000001", "2025-01-01", "2025-01-01 08:00", "Ann", "ann@x.test", True),
    ("C0000001", "2025-06-30", "2025-06-30 08:00", "Anna", "anna@x.test", True),  # renamed on the day
    ("C0000001", "2025-07-15", "2025-07-15 08:00", "Anne", "anne@x.test", False),  # withdraws later
    ("C0000002", "2025-03-01", "2025-03-01 08:00", "=HYPERLINK(1)", "bo@x.test", True),
    ("C0000003", "2025-03-01", "2025-03-01 08:00", "Cy", "cy@x.test", False),  # never consented
    ("C0000003", "2025-07-10", "2025-07-10 08:00", "Cy", "cy@x.test", True),  # consents later
    ("C0000004", "2025-02-01", "2025-02-01 08:00", "Di", "di@x.test", True),
    ("C0000004", "2025-02-01", "2025-02-01 09:00", "Dee", "dee@x.test", True),  # same day, later: wins
    ("C0000005", "2025-02-01", "2025-02-01 08:00", "Ed", "ed@x.test", True),  # not in retention
]
# customer, retention, rfm segment, basis, model reason, rule reason, probability, CLV, at risk
MART = [
    ("C0000001", True, "at_risk", "model", "no order in 40 days", "rule a", 0.123456, 100.004, 50.005),
    ("C0000002", True, "cant_lose", "rules", "model b", "spend down 60%", None, 80.0, 300.0),
    ("C0000003", True, "at_risk", "model", "auto-renew off", "rule c", 0.9, 70.0, None),
    ("C0000004", True, "loyal", "model", "no risk signal", "rule d", 0.5, 10.0, 50.005),
    ("C0000005", False, "champions", "model", "x", "y", 0.1, 500.0, 5.0),
]


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    paths = DataPaths(tmp_path / "data")
    paths.root.mkdir()
    con = duckdb.connect(str(paths.warehouse))
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE staging.stg_customers (customer_id TEXT, exported_on DATE, updated_at TIMESTAMP, "
        "first_name TEXT, last_name TEXT, email TEXT, country_code TEXT, marketing_opt_in BOOLEAN)"
    )
    for customer, exported, updated, first, email, opted in PROFILES:
        con.execute(
            "INSERT INTO staging.stg_customers VALUES (?, ?, ?, ?, 'Last', ?, 'PT', ?)",
            [customer, exported, updated, first, email, opted],
        )
    con.execute(
        "CREATE TABLE marts.mart_customer_360 (customer_id TEXT, as_of_date DATE, eligible_retention_campaign BOOLEAN, "
        "eligible_onboarding_campaign BOOLEAN, eligible_premium_campaign BOOLEAN, rfm_segment TEXT, "
        "campaign_risk_basis TEXT, primary_churn_reason TEXT, primary_risk_reason TEXT, churn_probability DOUBLE, "
        "predicted_clv_usd DOUBLE, campaign_revenue_at_risk_usd DOUBLE, campaign_risk_level TEXT)"
    )
    for customer, retention, rfm, basis, model_reason, rule_reason, probability, clv, at_risk in MART:
        con.execute(
            "INSERT INTO marts.mart_customer_360 VALUES (?, ?, ?, false, false, ?, ?, ?, ?, ?, ?, ?, 'medium')",
            [customer, MARTS_AS_OF, retention, rfm, basis, model_reason, rule_reason, probability, clv, at_risk],
        )
    con.close()
    return paths


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
        return list(reader)


def test_the_consent_and_the_name_of_the_profile_in_force_on_the_marts_date(paths: DataPaths, tmp_path: Path) -> None:
    out = tmp_path / "retention.csv"
    result = export_campaign(paths, "retention", out)
    assert (result.as_of, result.marts_as_of, result.segment) == (MARTS_AS_OF, MARTS_AS_OF, "retention")
    assert (result.customers, result.without_consent) == (3, 1)  # C0000003 had not consented yet
    rows = _rows(out)
    # highest revenue at risk first; a tie by customer id
    assert [r["customer_id"] for r in rows] == ["C0000002", "C0000001", "C0000004"]
    by_id = {r["customer_id"]: r for r in rows}
    assert by_id["C0000001"] == {
        "customer_id": "C0000001",
        "first_name": "Anna",  # the version exported on the date itself
        "last_name": "Last",
        "email": "anna@x.test",
        "country_code": "PT",
        "segment": "retention",
        "churn_probability": "0.1235",
        "risk_level": "medium",
        "main_reason": "no order in 40 days",  # the model's reason: the basis is the model
        "predicted_clv_usd": "100.0",
        "revenue_at_risk_usd": "50.01",
        "risk_basis": "model",
    }
    assert by_id["C0000002"]["first_name"] == "'=HYPERLINK(1)"  # a formula, neutralised
    assert by_id["C0000002"]["main_reason"] == "spend down 60%" and by_id["C0000002"]["churn_probability"] == ""
    assert by_id["C0000004"]["first_name"] == "Dee"  # the later update of the same day


def test_a_later_export_date_takes_the_consent_given_or_withdrawn_since(paths: DataPaths, tmp_path: Path) -> None:
    out = tmp_path / "retention.csv"
    result = export_campaign(paths, "retention", out, as_of=date(2025, 7, 31))
    assert (result.as_of, result.marts_as_of, result.customers, result.without_consent) == (
        date(2025, 7, 31),
        MARTS_AS_OF,
        3,
        1,
    )
    # C0000001 withdrew; C0000003 consented, with no revenue at risk known: last
    assert [r["customer_id"] for r in _rows(out)] == ["C0000002", "C0000004", "C0000003"]


def test_an_rfm_segment_and_a_list_of_customers(paths: DataPaths, tmp_path: Path) -> None:
    out = tmp_path / "at_risk.csv"
    assert export_campaign(paths, "at_risk", out).customers == 1
    assert [r["customer_id"] for r in _rows(out)] == ["C0000001"]
    listed = export_customers(paths, ["C0000005", "C0000004"], "simulated", tmp_path / "list.csv")
    assert (listed.customers, listed.segment) == (2, "simulated")
    rows = _rows(tmp_path / "list.csv")
    assert [(r["customer_id"], r["segment"]) for r in rows] == [("C0000004", "simulated"), ("C0000005", "simulated")]
    with pytest.raises(InvalidParameter, match=r"^customer id: not a customer id"):
        export_customers(paths, ["C1' OR 1=1"], "x", tmp_path / "bad.csv")


def test_an_export_date_before_the_marts_is_refused(paths: DataPaths, tmp_path: Path) -> None:
    out = tmp_path / "retention.csv"
    expected = (
        "export date 2025-06-29 is before 2025-06-30, the date the marts describe: "
        "segment membership would come from after the export date"
    )
    with pytest.raises(InvalidParameter) as info:
        export_campaign(paths, "retention", out, as_of=date(2025, 6, 29))
    assert str(info.value) == expected and not out.exists()


def test_what_cannot_be_exported(paths: DataPaths, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"^will not write an export over the warehouse's own file"):
        export_campaign(paths, "retention", paths.warehouse)
    with pytest.raises(InvalidParameter, match=r"^will not write an export over the warehouse's own file"):
        export_campaign(paths, "retention", paths.state)
    missing = DataPaths(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"^no warehouse at .*: run `churnmesh pipeline` first$"):
        export_campaign(missing, "retention", tmp_path / "x.csv")
    con = duckdb.connect(str(paths.warehouse))
    con.execute("DELETE FROM marts.mart_customer_360")
    con.close()
    with pytest.raises(ValueError, match=r"^marts.mart_customer_360 is empty: run `churnmesh pipeline` first$"):
        export_campaign(paths, "retention", tmp_path / "x.csv")
    paths.warehouse.write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match=r"^cannot read .*warehouse.duckdb: "):
        export_campaign(paths, "retention", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_the_result_and_the_log_line_say_what_was_written_where_and_as_of_when(
    paths: DataPaths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "retention.csv"
    later = date(2025, 7, 31)
    with caplog.at_level(logging.INFO, logger="churnmesh"):
        result = export_campaign(paths, "retention", out, as_of=later)
    assert result == ExportResult(out, "retention", later, MARTS_AS_OF, result.customers, result.without_consent)
    assert result.customers + result.without_consent == 4 and result.customers == len(_rows(out))
    assert caplog.records[-1].getMessage() == (
        f"exported {result.customers} customers of segment retention as of {later} to {out} "
        f"({result.without_consent} left out without marketing consent)"
    )
    listed = export_customers(paths, ["C0000001"], "simulated", tmp_path / "list.csv", as_of=later)
    assert (listed.as_of, listed.path, listed.customers) == (later, tmp_path / "list.csv", 0)  # withdrawn by then


def test_a_refused_output_path_and_a_damaged_warehouse_are_named_in_the_message(
    paths: DataPaths, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        export_campaign(paths, "retention", paths.warehouse)
    assert str(refused.value).endswith(shown(str(paths.warehouse)))
    paths.warehouse.write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError) as damaged:
        export_campaign(paths, "retention", tmp_path / "x.csv")
    message = str(damaged.value)
    assert message.startswith(f"cannot read {paths.warehouse}: ") and "None" not in message
    assert "\n" not in message and len(message) > len(f"cannot read {paths.warehouse}: ") + 10


def test_an_unknown_segment_lists_the_campaigns_and_the_rfm_segments(paths: DataPaths, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter) as info:
        export_campaign(paths, "nope", tmp_path / "x.csv")
    assert str(info.value) == (
        f"unknown segment 'nope': a campaign ({', '.join(CAMPAIGNS)}) or an RFM segment ({', '.join(RFM_SEGMENTS)})"
    )


def test_the_file_is_written_hidden_beside_its_target_and_renamed_over_it(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    seen: list[list[str]] = []

    def rows() -> Iterator[list[object]]:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        yield ["a", 1]

    write_csv_atomically(target, ["name", "n"], rows())
    (partial,) = seen[0]
    assert partial.startswith(".out.csv.") and partial.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert target.read_bytes() == b"name,n\r\na,1\r\n"


def test_a_failed_write_whose_partial_file_is_already_gone_raises_its_own_error(tmp_path: Path) -> None:
    def rows() -> Iterator[list[object]]:
        for partial in tmp_path.glob(".*.tmp"):
            partial.unlink()
        raise RuntimeError("the source of the rows failed")
        yield []

    with pytest.raises(RuntimeError, match="the source of the rows failed"):
        write_csv_atomically(tmp_path / "out.csv", ["name"], rows())
    assert list(tmp_path.iterdir()) == []
