"""The SQLMesh warehouse built end to end on a small generated dataset."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from churnmesh.ingestion import ingest
from churnmesh.ingestion.tables import external_models_yaml
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import MARTS, build_prod, execution_time, sqlmesh_context
from tests.helpers import query

AS_OF = date(2024, 2, 29)
CLOCK_READS = re.compile(r"current_date|current_timestamp|\bnow\s*\(|\btoday\s*\(|getdate", re.IGNORECASE)


@pytest.fixture(scope="module")
def built(clean_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    paths = DataPaths(tmp_path_factory.mktemp("built"))
    ingest(clean_landing, paths.warehouse)
    build_prod(paths, AS_OF)
    return paths


def test_no_model_reads_the_clock() -> None:
    offenders = [p.name for p in (PROJECT_ROOT / "models").rglob("*.sql") if CLOCK_READS.search(p.read_text())]
    assert offenders == []


def test_external_models_match_the_contracts() -> None:
    assert (PROJECT_ROOT / "external_models.yaml").read_text() == external_models_yaml()


def test_sqlmesh_unit_tests_pass(built: DataPaths) -> None:
    with sqlmesh_context(built) as context:
        result = context.test()
    assert result.wasSuccessful(), [str(e) for e in result.errors + result.failures]
    assert result.testsRun >= 2


def test_every_audit_passes(built: DataPaths) -> None:
    with sqlmesh_context(built) as context:
        assert context.audit(start="2024-01-01", end=AS_OF, execution_time=execution_time(AS_OF))


def test_every_mart_has_rows(built: DataPaths) -> None:
    empty = [mart for mart in MARTS if query(built.warehouse, f"SELECT count(*) FROM {mart}") == [(0,)]]
    assert empty == []


def test_marts_hold_one_row_per_customer_signed_up_by_the_as_of_date(built: DataPaths, clean_landing: Path) -> None:
    customers = pd.concat(pd.read_csv(p, dtype=str) for p in sorted((clean_landing / "customers").glob("*.csv")))
    signed_up = customers[pd.to_datetime(customers["signup_datetime"]).dt.date <= AS_OF]["customer_id"].nunique()
    per_customer = (
        "marts.mart_customer_360",
        "marts.mart_churn_risk",
        "marts.mart_clv",
        "marts.mart_customer_segments",
    )
    for mart in per_customer:
        assert query(built.warehouse, f"SELECT count(*), count(DISTINCT customer_id) FROM {mart}") == [
            (signed_up, signed_up)
        ]
    assert query(built.warehouse, "SELECT DISTINCT as_of_date FROM marts.mart_churn_risk") == [(AS_OF,)]


def test_lifetime_value_equals_an_independent_pandas_computation(built: DataPaths, clean_landing: Path) -> None:
    orders = pd.concat(pd.read_csv(p, dtype=str) for p in sorted((clean_landing / "orders").glob("*.csv")))
    orders = orders[pd.to_datetime(orders["order_datetime"]).dt.date <= AS_OF].drop_duplicates("order_id")
    orders["amount"] = (orders["quantity"].astype(int) * orders["unit_price_usd"].astype(float)).round(2)
    expected = orders.groupby("customer_id")["amount"].sum().round(2)
    warehouse = dict(
        query(
            built.warehouse,
            "SELECT customer_id, round(monetary_usd, 2)::DOUBLE FROM marts.mart_customer_360 "
            "WHERE frequency > 0 OR monetary_usd <> 0",
        )
    )
    assert set(warehouse) == set(expected.index)
    for customer, value in warehouse.items():
        assert value == pytest.approx(expected[customer], abs=0.011), customer


def test_a_rebuild_for_the_same_as_of_date_changes_nothing(built: DataPaths) -> None:
    before = query(built.warehouse, "SELECT * FROM marts.mart_churn_risk ORDER BY customer_id")
    build_prod(built, AS_OF)
    assert query(built.warehouse, "SELECT * FROM marts.mart_churn_risk ORDER BY customer_id") == before
