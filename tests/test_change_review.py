"""Safe change review on a copy of the project: a changed mart is built in dev, compared with
prod, and promoted without recomputing anything; late data and restatements converge to a full
rebuild."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from churnmesh.ingestion import ingest
from churnmesh.settings import DataPaths
from churnmesh.warehouse import build_prod, copy_project, execution_time, sqlmesh_context
from tests.helpers import query, write

AS_OF = date(2024, 2, 20)


@pytest.fixture
def project(tmp_path: Path, clean_landing: Path) -> tuple[Path, DataPaths]:
    root = copy_project(tmp_path / "project")
    paths = DataPaths(tmp_path / "data")
    shutil.copytree(clean_landing, paths.landing)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, AS_OF, project=root)
    return root, paths


def test_a_mart_change_is_reviewed_in_dev_and_promoted_without_recomputation(project: tuple[Path, DataPaths]) -> None:
    root, paths = project
    prod_before = query(
        paths.warehouse, "SELECT customer_id, rule_revenue_at_risk_usd FROM marts.mart_churn_risk ORDER BY 1"
    )
    mart = root / "models" / "marts" / "mart_churn_risk.sql"
    mart.write_text(
        mart.read_text().replace(
            "    l.risk_score / 100.0,\n",
            "    l.risk_score / 100.0 * 0.5,\n",
        )
    )
    with sqlmesh_context(paths, project=root) as context:
        context.plan("dev", execution_time=execution_time(AS_OF), no_prompts=True, auto_apply=True)

        def rows(table: str) -> list[tuple]:
            frame = context.fetchdf(f"SELECT customer_id, rule_revenue_at_risk_usd::DOUBLE FROM {table} ORDER BY 1")
            return list(frame.itertuples(index=False, name=None))

        assert rows("marts.mart_churn_risk") == prod_before, "prod changed before promotion"
        dev = dict(rows("marts__dev.mart_churn_risk"))
        assert all(dev[c] == pytest.approx(round(v * 0.5, 2), abs=0.011) for c, v in prod_before)

        (diff,) = context.table_diff(
            "prod", "dev", select_models={"marts.mart_churn_risk"}, on=["customer_id"], show=False
        )
        row_diff = diff.row_diff()
        assert row_diff.join_count == len(prod_before)
        assert row_diff.full_match_count < row_diff.join_count  # the changed column differs

        promotion = context.plan("prod", execution_time=execution_time(AS_OF), no_prompts=True)
        assert not promotion.missing_intervals, "promotion would recompute model batches"
        context.apply(promotion)
    prod_after = dict(
        query(paths.warehouse, "SELECT customer_id, rule_revenue_at_risk_usd::DOUBLE FROM marts.mart_churn_risk")
    )
    assert prod_after == dev


def _late_orders(paths: DataPaths, file_day: str, customer: str, orders: dict[str, str]) -> None:
    """A landing file for `file_day` carrying purchases of 1,000 USD dated earlier (order id -> day)."""
    header = (
        "order_id,customer_id,order_datetime,order_type,original_order_id,product_id,product_category,"
        "quantity,unit_price_usd,device_type,order_channel,city,country,loyalty_points_earned"
    )
    rows = [
        f"{order_id},{customer},{day} 12:00:00,purchase,,P001,electronics,1,1000.00,mobile,app,London,GB,1000"
        for order_id, day in orders.items()
    ]
    write(paths.landing / "orders" / f"{file_day}-late.csv", "\n".join([header, *rows]) + "\n")


def _day_revenue(paths: DataPaths, customer: str, day: str) -> float:
    rows = query(
        paths.warehouse,
        "SELECT net_revenue_usd FROM intermediate.int_customer_daily_metrics "
        "WHERE customer_id = ? AND activity_date = ?",
        [customer, day],
    )
    return rows[0][0] if rows else 0.0


def test_late_rows_inside_the_lookback_arrive_and_a_restatement_repairs_older_ones(
    project: tuple[Path, DataPaths], tmp_path: Path
) -> None:
    root, paths = project
    (customer,) = query(paths.warehouse, "SELECT min(customer_id) FROM core.dim_customers")[0]
    inside, outside = "2024-02-18", "2024-02-01"
    before_inside, before_outside = _day_revenue(paths, customer, inside), _day_revenue(paths, customer, outside)
    _late_orders(paths, "2024-02-21", customer, {"O900000001": inside, "O900000002": outside})
    ingest(paths.landing, paths.warehouse)
    next_day = date(2024, 2, 21)
    with sqlmesh_context(paths, project=root) as context:
        context.run(execution_time=execution_time(next_day))
    assert _day_revenue(paths, customer, inside) == pytest.approx(before_inside + 1000)
    assert _day_revenue(paths, customer, outside) == pytest.approx(before_outside), "beyond the lookback"

    with sqlmesh_context(paths, project=root) as context:
        context.plan(
            "prod",
            restate_models=["core.fct_orders"],
            start=outside,
            end=outside,
            execution_time=execution_time(next_day),
            no_prompts=True,
            auto_apply=True,
        )
    assert _day_revenue(paths, customer, outside) == pytest.approx(before_outside + 1000)

    rebuilt = DataPaths(tmp_path / "rebuilt")
    ingest(paths.landing, rebuilt.warehouse)
    build_prod(rebuilt, next_day, project=root)
    for table in ("intermediate.int_customer_daily_metrics", "marts.mart_customer_360", "marts.mart_churn_risk"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert query(paths.warehouse, sql) == query(rebuilt.warehouse, sql), table
