"""The SQLMesh warehouse built end to end on a small generated dataset."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from churnmesh.ingestion import ingest
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


def _landing(landing: Path, source: str) -> pd.DataFrame:
    return pd.concat(pd.read_csv(p, dtype=str) for p in sorted((landing / source).glob("*.csv")))


def _orders(landing: Path) -> pd.DataFrame:
    orders = _landing(landing, "orders").drop_duplicates("order_id", keep="last")
    orders["date"] = pd.to_datetime(orders["order_datetime"]).dt.date
    orders = orders[orders["date"] <= AS_OF].copy()
    orders["amount"] = (orders["quantity"].astype(int) * orders["unit_price_usd"].astype(float)).round(2)
    orders["month"] = pd.to_datetime(orders["order_datetime"]).dt.to_period("M").dt.start_time.dt.date
    return orders


def test_average_transaction_value_equals_pandas(built: DataPaths, clean_landing: Path) -> None:
    purchases = _orders(clean_landing).query("order_type == 'purchase'")
    expected = purchases.groupby("customer_id")["amount"].agg(["count", "mean", "min", "max", "median"])
    rows = query(
        built.warehouse,
        "SELECT customer_id, purchases, mean_usd::DOUBLE, min_usd::DOUBLE, max_usd::DOUBLE, "
        "median_usd::DOUBLE FROM metrics.metric_avg_transaction_value",
    )
    assert len(rows) == len(expected)
    for customer, count, mean, low, high, median in rows:
        e = expected.loc[customer]
        assert (count, low, high) == (e["count"], pytest.approx(e["min"]), pytest.approx(e["max"]))
        assert mean == pytest.approx(e["mean"], abs=0.006)
        assert median == pytest.approx(e["median"], abs=0.006)


def test_month_over_month_spend_equals_pandas(built: DataPaths, clean_landing: Path) -> None:
    spend = _orders(clean_landing).groupby(["customer_id", "month"])["amount"].sum().round(2)
    rows = query(
        built.warehouse,
        "SELECT customer_id, month_start, spend_usd::DOUBLE, prior_month_spend_usd::DOUBLE "
        "FROM metrics.metric_mom_spend_change",
    )
    for customer, month, value, prior in rows:
        assert value == pytest.approx(spend.get((customer, month), 0.0), abs=0.006)
        previous = (pd.Timestamp(month) - pd.offsets.MonthBegin(1)).date()
        assert prior == pytest.approx(spend.get((customer, previous), 0.0), abs=0.006)
    months_with_spend = {key for key, value in spend.items() if value != 0}
    assert months_with_spend <= {(c, m) for c, m, *_ in rows}


def _subscription_charges(landing: Path) -> pd.DataFrame:
    """Charges as the warehouse defines them: at the start, and whenever an active subscription's
    next billing date moves forward (a renewal or the end of a pause)."""
    frames = []
    for path in sorted((landing / "subscriptions").glob("*.csv")):
        frame = pd.read_csv(path, dtype=str)
        frames.append(frame.assign(exported_on=pd.Timestamp(path.name[:10]).date()))
    subs = pd.concat(frames).sort_values(["subscription_id", "exported_on"])
    subs = subs[subs["exported_on"] <= AS_OF]
    subs["previous_renewal"] = subs.groupby("subscription_id")["renewal_date"].shift()
    first = subs.groupby("subscription_id").head(1)
    starts = first.assign(date=pd.to_datetime(first["start_date"]).dt.date)
    later = subs[subs.duplicated("subscription_id")]
    renewals = later[(later["status"] == "active") & (later["renewal_date"] > later["previous_renewal"])]
    renewals = renewals.assign(date=renewals["exported_on"])
    charges = pd.concat([starts, renewals])[["customer_id", "plan_id", "date"]]
    prices = pd.read_csv(PROJECT_ROOT / "seeds" / "plans.csv").set_index("plan_id")["price_usd"]
    return charges.assign(amount=charges["plan_id"].map(prices))


def test_cohort_retention_equals_pandas(built: DataPaths, clean_landing: Path) -> None:
    customers = _landing(clean_landing, "customers").drop_duplicates("customer_id")
    signup = pd.to_datetime(customers["signup_datetime"])
    customers = customers.assign(cohort=signup.dt.to_period("M").dt.start_time.dt.date)[
        (signup >= "2024-01-01") & (signup.dt.date <= AS_OF)
    ]
    orders = _orders(clean_landing)[["customer_id", "date", "amount"]]
    events = pd.concat([orders, _subscription_charges(clean_landing)[["customer_id", "date", "amount"]]])
    events = events[events["date"] <= AS_OF].merge(customers[["customer_id", "cohort"]], on="customer_id")
    events["month"] = pd.to_datetime(events["date"]).dt.to_period("M").dt.start_time.dt.date
    retained = events[events["amount"] > 0].groupby(["cohort", "month"])["customer_id"].nunique()
    sizes = customers.groupby("cohort").size()
    rows = query(
        built.warehouse,
        "SELECT cohort_month, activity_month, cohort_customers, customers_retained, "
        "retention_rate FROM marts.mart_retention_cohorts",
    )
    assert len(rows) == sum(1 for c in sizes.index for m in pd.date_range(c, AS_OF, freq="MS"))
    for cohort, month, size, kept, rate in rows:
        assert size == sizes[cohort]
        assert kept == retained.get((cohort, month), 0), (cohort, month)
        assert rate == pytest.approx(kept / size)


def test_a_past_date_shows_what_was_known_then(clean_landing: Path, tmp_path: Path) -> None:
    """Built as of mid-February from all files, the marts equal a build made on that day with only
    the files that had arrived by then: nothing from the future leaks into a backfill."""
    as_of = date(2024, 2, 15)
    known_then = tmp_path / "landing_then"
    for path in clean_landing.glob("*/*.csv"):
        if path.parent.name != "_truth" and path.name[:10] <= as_of.isoformat():
            (known_then / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, known_then / path.parent.name / path.name)
    builds = {}
    for name, landing in (("everything", clean_landing), ("known_then", known_then)):
        paths = DataPaths(tmp_path / name)
        ingest(landing, paths.warehouse)
        build_prod(paths, as_of)
        builds[name] = paths
    for table in MARTS:
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert query(builds["everything"].warehouse, sql) == query(builds["known_then"].warehouse, sql), table


def _corrected_landing(clean_landing: Path, landing: Path) -> dict[str, str]:
    """The clean files plus a file of corrections: orders and sessions re-exported on a later day
    with their date moved across intervals, or with a customer the exports never sent, and an
    order first sent with an unknown customer then corrected to a known one. Returns the ids."""
    shutil.copytree(clean_landing, landing)
    read = {"dtype": str, "keep_default_na": False}
    orders = pd.read_csv(landing / "orders" / "2024-01-10.csv", **read)
    later_orders = pd.read_csv(landing / "orders" / "2024-02-10.csv", **read)
    sessions = pd.read_csv(landing / "device_sessions" / "2024-01-10.csv", **read)
    purchases = orders[orders["order_type"] == "purchase"]
    moved_forward, to_unknown = purchases.iloc[0].copy(), purchases.iloc[1].copy()
    moved_back = later_orders[later_orders["order_type"] == "purchase"].iloc[0].copy()
    late_customer = purchases.iloc[2].copy()
    late_customer["order_id"] = "O999999901"
    first_sent = late_customer.copy()
    first_sent["customer_id"] = "C9999998"
    moved_forward["order_datetime"] = "2024-02-05 12:00:00"
    moved_back["order_datetime"] = "2024-01-03 12:00:00"
    to_unknown["customer_id"] = "C9999999"
    pd.DataFrame([first_sent]).to_csv(landing / "orders" / "2024-01-15-held.csv", index=False)
    corrections = pd.DataFrame([moved_forward, moved_back, to_unknown, late_customer])
    corrections.to_csv(landing / "orders" / "2024-02-20-corrections.csv", index=False)
    moved_session, unknown_session = sessions.iloc[0].copy(), sessions.iloc[1].copy()
    moved_session["session_start_ts"], moved_session["session_end_ts"] = "2024-02-12 08:00:00", "2024-02-12 08:10:00"
    unknown_session["customer_id"] = "C9999999"
    pd.DataFrame([moved_session, unknown_session]).to_csv(
        landing / "device_sessions" / "2024-02-20-corrections.csv", index=False
    )
    return {
        "moved_forward": moved_forward["order_id"],
        "moved_back": moved_back["order_id"],
        "to_unknown": to_unknown["order_id"],
        "late_customer": late_customer["order_id"],
        "moved_session": moved_session["session_id"],
        "unknown_session": unknown_session["session_id"],
    }


# The plain definitions the incremental facts and the orphan list must equal: the latest version
# of every row (the staging views), of a known customer or not.
PLAIN_FACTS = {
    "core.fct_orders": """
        SELECT o.order_id, o.customer_id, o.order_date, o.amount_usd FROM staging.stg_orders AS o
        SEMI JOIN core.dim_customers AS c ON o.customer_id = c.customer_id WHERE o.order_date <= ?""",
    "core.fct_sessions": """
        SELECT s.session_id, s.customer_id, s.session_date, s.duration_seconds FROM staging.stg_device_sessions AS s
        SEMI JOIN core.dim_customers AS c ON s.customer_id = c.customer_id WHERE s.session_date <= ?""",
}
PLAIN_ORPHANS = """
    WITH known AS (SELECT DISTINCT customer_id FROM staging.stg_customers WHERE exported_on <= $1)
    SELECT 'orders', o.order_id, o.customer_id, o.order_date FROM staging.stg_orders AS o
    ANTI JOIN known AS k ON o.customer_id = k.customer_id WHERE o.order_date <= $1
    UNION ALL
    SELECT 'device_sessions', s.session_id, s.customer_id, s.session_date FROM staging.stg_device_sessions AS s
    ANTI JOIN known AS k ON s.customer_id = k.customer_id WHERE s.session_date <= $1"""


def test_corrected_rows_reach_the_facts_and_orphans_as_their_latest_version(
    clean_landing: Path, tmp_path: Path
) -> None:
    """Incremental facts read only the versions of their interval's keys; the result must be what
    the whole history's latest versions give, when a correction moves a row to another date or
    customer."""
    paths = DataPaths(tmp_path / "data")
    ids = _corrected_landing(clean_landing, paths.landing)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, AS_OF)
    columns = {"core.fct_orders": "order_id, customer_id, order_date, amount_usd"}
    columns["core.fct_sessions"] = "session_id, customer_id, session_date, duration_seconds"
    for table, plain in PLAIN_FACTS.items():
        built = query(paths.warehouse, f"SELECT {columns[table]} FROM {table} ORDER BY ALL")
        assert built == query(paths.warehouse, f"{plain} ORDER BY ALL", [AS_OF]), table
    orphans = query(paths.warehouse, "SELECT source, record_id, customer_id, event_date FROM core.orphan_facts")
    plain_orphans = query(paths.warehouse, PLAIN_ORPHANS, [AS_OF])
    assert sorted(o for o in orphans if o[0] in ("orders", "device_sessions")) == sorted(plain_orphans)

    def order_dates(order_id: str) -> list[tuple]:
        return query(paths.warehouse, "SELECT order_date FROM core.fct_orders WHERE order_id = ?", [order_id])

    assert order_dates(ids["moved_forward"]) == [(date(2024, 2, 5),)]
    assert order_dates(ids["moved_back"]) == [(date(2024, 1, 3),)]
    assert order_dates(ids["to_unknown"]) == []
    assert len(order_dates(ids["late_customer"])) == 1
    held = {record for _, record, _, _ in orphans}
    assert {ids["to_unknown"], ids["unknown_session"]} <= held
    assert ids["late_customer"] not in held
    moved = query(
        paths.warehouse, "SELECT session_date FROM core.fct_sessions WHERE session_id = ?", [ids["moved_session"]]
    )
    assert moved == [(date(2024, 2, 12),)]
