"""Each source contract accepts a well-formed row and rejects each kind of bad cell with a reason
that names the column and the problem."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from churnmesh.contracts import SOURCES, SOURCES_BY_NAME
from churnmesh.ingestion.tables import DUCKDB_TYPES, external_models_yaml, raw_table
from churnmesh.ingestion.validate import ContractValidator
from churnmesh.settings import PROJECT_ROOT

FILE_DATE = pd.Timestamp("2024-03-10")
GOOD = {
    "customers": {
        "customer_id": "C0000001",
        "first_name": "Zoë",
        "last_name": "O'Brien",
        "email": "zoe.obrien1@example.org",
        "gender": "female",
        "date_of_birth": "1990-05-17",
        "signup_datetime": "2024-03-10 09:15:00",
        "city": "London",
        "country": "GB",
        "marketing_opt_in": "true",
        "updated_at": "2024-03-10 09:15:00",
    },
    "financial_profiles": {
        "customer_id": "C0000001",
        "profile_effective_date": "2024-03-10",
        "income_usd": "55000.5",
        "credit_score": "712",
    },
    "orders": {
        "order_id": "O000000001",
        "customer_id": "C0000001",
        "order_datetime": "2024-03-10 19:00:00",
        "order_type": "purchase",
        "original_order_id": None,
        "product_id": "P001",
        "product_category": "electronics",
        "quantity": "2",
        "unit_price_usd": "19.99",
        "device_type": "mobile",
        "order_channel": "app",
        "city": "London",
        "country": "GB",
        "loyalty_points_earned": "39",
    },
    "loyalty_balances": {
        "customer_id": "C0000001",
        "snapshot_date": "2024-03-10",
        "points_balance": "1200",
        "loyalty_tier": "silver",
    },
    "subscriptions": {
        "subscription_id": "S00000001",
        "customer_id": "C0000001",
        "plan_id": "PL01",
        "plan_name": "Basic Monthly",
        "status": "active",
        "start_date": "2024-02-01",
        "end_date": None,
        "renewal_date": "2024-04-01",
        "is_auto_renew": "false",
    },
    "support_tickets": {
        "ticket_id": "T00000001",
        "customer_id": "C0000001",
        "opened_datetime": "2024-03-09 10:00:00",
        "closed_datetime": "2024-03-10 08:00:00",
        "status": "closed",
        "channel": "chat",
        "issue_type": "delivery",
        "root_cause": "late_delivery",
        "product_id": "P001",
        "app_version": "4.2.0",
        "resolution_time_minutes": "1320",
        "csat_score": "2",
    },
    "device_sessions": {
        "session_id": "E0000000001",
        "customer_id": "C0000001",
        "session_start_ts": "2024-03-10 20:00:00",
        "session_end_ts": "2024-03-10 20:07:30",
        "device_type": "tablet",
        "os_version": "iPadOS 18",
        "app_version": "4.2.0",
        "pages_viewed": "7",
        "events_fired": "23",
    },
}


def _validate(source: str, changes: dict[str, str | None]):
    row = {**GOOD[source], **changes, "_row_number": 1, "_file_date": FILE_DATE, "_source_file": "x.csv"}
    return ContractValidator(SOURCES_BY_NAME[source]).validate(pd.DataFrame([row]))


@pytest.mark.parametrize("source", sorted(GOOD))
def test_a_well_formed_row_passes(source: str) -> None:
    checked = _validate(source, {})
    assert checked.rejected.empty, checked.rejected["_reject_reason"].tolist()
    assert len(checked.valid) == 1


BAD_CELLS = [
    ("customers", "customer_id", None, "customer_id: required value is empty"),
    ("customers", "customer_id", "C00000１", "does not match the required format"),
    ("customers", "email", "not-an-email", "email: 'not-an-email' does not match"),
    ("customers", "country", "XX", "country: 'XX' is not an accepted value"),
    ("customers", "marketing_opt_in", "maybe", "marketing_opt_in: 'maybe' is not true or false"),
    ("customers", "date_of_birth", "2024-02-30", "date_of_birth: '2024-02-30' is not a valid date"),
    ("customers", "date_of_birth", "0000-00-00", "is not a valid date"),
    ("customers", "signup_datetime", "2031-01-01 00:00:00", "signup_datetime is after the file's date"),
    ("customers", "gender", "robot", "gender: 'robot' is not an accepted value"),
    ("customers", "updated_at", "2024-03-01 00:00:00", "updated_at is before signup_datetime"),
    ("customers", "updated_at", "2024-03-11 00:00:01", "updated_at is after the file's date"),
    ("financial_profiles", "credit_score", "200", "credit_score: '200' is below the minimum 300"),
    ("financial_profiles", "credit_score", "900", "is above the maximum 850"),
    ("financial_profiles", "income_usd", "1e309", "income_usd: '1e309' is not a finite number"),
    ("financial_profiles", "income_usd", "NaN", "income_usd: 'NaN' is not a finite number"),
    ("financial_profiles", "income_usd", "12,5", "is not a finite number"),
    ("financial_profiles", "income_usd", "١٢٣", "is not a finite number"),
    ("orders", "quantity", "-3", "quantity must be positive for a purchase and negative for a refund"),
    ("orders", "quantity", "2.5", "quantity: '2.5' is not an integer"),
    ("orders", "unit_price_usd", "-1", "unit_price_usd: '-1.0' is below the minimum 0"),
    ("orders", "order_type", "refund", "a refund must name its original_order_id"),
    ("orders", "order_datetime", "10/03/2024", "is not a valid timestamp"),
    ("orders", "device_type", "fridge", "device_type: 'fridge' is not an accepted value"),
    ("loyalty_balances", "points_balance", "-150", "points_balance: '-150' is below the minimum 0"),
    ("loyalty_balances", "loyalty_tier", "diamond", "is not an accepted value"),
    ("subscriptions", "status", "expired", "status: 'expired' is not an accepted value"),
    ("subscriptions", "status", "cancelled", "a cancelled subscription must have an end_date"),
    ("subscriptions", "end_date", "2024-01-01", "end_date is before start_date"),
    ("support_tickets", "csat_score", "9", "csat_score: '9' is above the maximum 5"),
    ("support_tickets", "closed_datetime", "2024-03-08 00:00:00", "closed_datetime is before opened_datetime"),
    ("support_tickets", "closed_datetime", None, "a closed ticket must have a closed_datetime"),
    ("support_tickets", "app_version", "v4", "does not match the required format"),
    ("device_sessions", "pages_viewed", "-1", "pages_viewed: '-1' is below the minimum 0"),
    ("device_sessions", "session_end_ts", "2024-03-10 19:00:00", "session_end_ts is before session_start_ts"),
]


@pytest.mark.parametrize(("source", "column", "value", "reason"), BAD_CELLS)
def test_a_bad_cell_is_rejected_with_its_reason(source: str, column: str, value: str | None, reason: str) -> None:
    checked = _validate(source, {column: value})
    assert checked.valid.empty
    assert len(checked.rejected) == 1
    assert reason in checked.rejected["_reject_reason"].iloc[0]


def test_rejected_rows_keep_their_text_verbatim() -> None:
    checked = _validate("orders", {"quantity": " 3x ", "unit_price_usd": "abc"})
    row = checked.rejected.iloc[0]
    assert row["quantity"] == " 3x "
    assert row["unit_price_usd"] == "abc"
    assert "quantity" in row["_reject_reason"] and "unit_price_usd" in row["_reject_reason"]


def test_valid_rows_are_typed() -> None:
    checked = _validate("orders", {})
    row = checked.valid.iloc[0]
    assert row["quantity"] == 2
    assert row["unit_price_usd"] == pytest.approx(19.99)
    assert row["order_datetime"] == pd.Timestamp("2024-03-10 19:00:00")


def test_the_external_models_sqlmesh_reads_are_the_contracts_raw_tables() -> None:
    """external_models.yaml is generated from the contracts and committed: the two stay equal, and
    each raw table declares every contract column with its DuckDB type."""
    committed = (PROJECT_ROOT / "external_models.yaml").read_text()
    assert committed == external_models_yaml()
    declared = {model["name"]: model["columns"] for model in yaml.safe_load(committed)}
    assert list(declared) == [raw_table(source) for source in SOURCES]
    for source in SOURCES:
        columns = declared[raw_table(source)]
        assert {c.name: DUCKDB_TYPES[c.kind] for c in source.columns}.items() <= columns.items()
