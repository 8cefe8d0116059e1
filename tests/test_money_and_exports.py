"""Money and exports, checked against computations written here and not taken from the package:
CLV discounting at the annual rate, the campaign export's guard against CSV injection (the OWASP
list), and personal data looked for by its content in every mart (a renamed column keeps it)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import hyp2f1

from churnmesh.ingestion import ingest
from churnmesh.privacy.export import export_campaign, spreadsheet_safe
from churnmesh.scoring.clv import BgNbd, GammaGamma, RfmSummary, customer_lifetime_value
from churnmesh.scoring.clv_warehouse import predict_clv, purchases_query, subscription_value
from churnmesh.scoring.scores import clv_predictions
from churnmesh.settings import PROJECT_ROOT
from tests.conftest import SCORED_AS_OF, Scored, scored_copy

# ---- CLV discounting -------------------------------------------------------------------------
# The definition (clv.py, clv_warehouse.py): an annual rate r, compounded yearly; a value received
# d days from today is worth (1 + r) ** -(d / 365). Subscriptions pay the MRR at the end of each
# whole month (a twelfth of a year) within the horizon; order revenue is counted in 30-day steps
# (the last one ends on the horizon), each step's purchases discounted from the end of the step.

HORIZONS = (20, 30, 61, 90, 365, 400, 730)
RATES = (0.0, 0.05, 0.10, 0.25)
# Fader, Hardie & Lee (2005) and Fader & Hardie (2013) on CDNOW: realistic, non-trivial parameters.
BGNBD = (0.243, 4.414, 0.793, 2.426)  # r, alpha, a, b
SPEND = (6.25, 3.74, 15.44)  # p, q, gamma
# Customers in weeks: repeat purchases, recency, age, mean repeat spend.
HISTORIES = pd.DataFrame(
    {
        "frequency": [0.0, 1.0, 2.0, 5.0, 12.0],
        "recency": [0.0, 3.0, 8.0, 30.0, 37.0],
        "T": [30.0, 20.0, 10.0, 38.0, 40.0],
        "monetary_value": [0.0, 25.0, 40.0, 18.5, 60.0],
    },
    index=pd.Index(["c1", "c2", "c3", "c4", "c5"], name="customer"),
)


def whole_months(horizon_days: int) -> int:
    """Months of 365/12 days that end within the horizon (integer arithmetic: no rounding)."""
    return (12 * horizon_days) // 365


def subscription_factor(horizon_days: int, rate: float) -> float:
    """What one unit of MRR over the horizon is worth today: a geometric series in the monthly
    discount v = (1 + rate) ** (-1/12), summed in closed form, not month by month."""
    months = whole_months(horizon_days)
    if rate == 0:
        return float(months)
    v = (1 + rate) ** (-1 / 12)
    return v * (1 - v**months) / (1 - v)


Params = tuple[float, ...]


def expected_purchases_closed_form(weeks: float, frame: pd.DataFrame, bgnbd: Params = BGNBD) -> np.ndarray:
    """Fader, Hardie & Lee (2005), eq. 10 (the Gaussian hypergeometric form), with P(alive)."""
    r, alpha, a, b = bgnbd
    x, t_x, T = (frame[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, weeks / (alpha + T + weeks))
    if_alive = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + weeks)) ** (r + x) * hyp)
    odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return if_alive / (1 + odds)


def spend_by_hand(frame: pd.DataFrame, spend: Params = SPEND) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase; the population mean for x = 0."""
    p, q, gamma = spend
    x, m = frame["frequency"].to_numpy(float), frame["monetary_value"].to_numpy(float)
    return np.where(x > 0, p * (gamma + x * m) / (p * x + q - 1), p * gamma / (q - 1))


def order_clv_by_hand(
    frame: pd.DataFrame, horizon_days: int, rate: float, bgnbd: Params = BGNBD, spend: Params = SPEND
) -> np.ndarray:
    step_ends = [*range(30, horizon_days, 30), horizon_days]
    previous, discounted = np.zeros(len(frame)), np.zeros(len(frame))
    for day in step_ends:
        cumulative = expected_purchases_closed_form(day / 7, frame, bgnbd)
        discounted += (cumulative - previous) * (1 + rate) ** (-day / 365)
        previous = cumulative
    return discounted * spend_by_hand(frame, spend)


def package_order_clv(frame: pd.DataFrame, horizon_days: int, rate: float) -> pd.DataFrame:
    bgnbd, spend = BgNbd(*BGNBD, log_likelihood=0.0), GammaGamma(*SPEND, log_likelihood=0.0)
    return customer_lifetime_value(bgnbd, spend, RfmSummary(frame), horizon_days, rate, "weeks")


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("horizon_days", HORIZONS)
def test_subscription_clv_is_mrr_discounted_monthly_at_the_annual_rate(horizon_days: int, rate: float) -> None:
    mrr = pd.Series([0.0, 9.99, 49.5, 1200.0])
    expected = mrr * subscription_factor(horizon_days, rate)
    np.testing.assert_allclose(subscription_value(mrr, horizon_days, rate), expected, rtol=1e-12)


def test_a_years_subscription_matches_figures_worked_by_hand() -> None:
    # 100 a month for 12 months: 1,200 undiscounted; at 10% a year, sum of 1.1 ** -(k/12), k = 1..12.
    mrr = pd.Series([100.0])
    assert subscription_value(mrr, 365, 0.0)[0] == pytest.approx(1200.0, abs=1e-9)
    assert subscription_value(mrr, 365, 0.10)[0] == pytest.approx(1140.0488, abs=1e-4)
    # The twelfth month (11 months end by day 335) alone is worth exactly a year's discount: 100 / 1.1.
    last_month = subscription_value(mrr, 365, 0.10)[0] - subscription_value(mrr, 335, 0.10)[0]
    assert last_month == pytest.approx(100 / 1.1, rel=1e-12)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("horizon_days", HORIZONS)
def test_order_clv_discounts_each_30_day_step_at_the_annual_rate(horizon_days: int, rate: float) -> None:
    got = package_order_clv(HISTORIES, horizon_days, rate)["clv"].to_numpy()
    np.testing.assert_allclose(got, order_clv_by_hand(HISTORIES, horizon_days, rate), rtol=1e-7)


@pytest.mark.parametrize("horizon_days", HORIZONS)
def test_without_discounting_order_clv_is_expected_purchases_times_spend(horizon_days: int) -> None:
    undiscounted = expected_purchases_closed_form(horizon_days / 7, HISTORIES) * spend_by_hand(HISTORIES)
    np.testing.assert_allclose(package_order_clv(HISTORIES, horizon_days, 0.0)["clv"], undiscounted, rtol=1e-7)


def test_one_step_of_order_revenue_a_year_out_is_worth_one_years_discount() -> None:
    # Purchases between day 330 and day 360 of a 360-day horizon are discounted by (1.1) ** -(360/365).
    short, full = package_order_clv(HISTORIES, 330, 0.10)["clv"], package_order_clv(HISTORIES, 360, 0.10)["clv"]
    step = expected_purchases_closed_form(360 / 7, HISTORIES) - expected_purchases_closed_form(330 / 7, HISTORIES)
    np.testing.assert_allclose(full - short, step * spend_by_hand(HISTORIES) * 1.1 ** (-360 / 365), rtol=1e-7)


def synthetic_purchases(rng: np.random.Generator, customers: int, end: date) -> pd.DataFrame:
    """A year of purchase days per customer, at varied rates and amounts."""
    rows = []
    for number in range(customers):
        days = rng.choice(365, size=1 + rng.poisson(1 + number % 5), replace=False)
        for day in days:
            amount = round(float(rng.gamma(4.0, 8.0 + number % 7)), 2)
            rows.append((f"C{number:07d}", end - timedelta(days=int(day)), amount))
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount_usd"])


@pytest.mark.parametrize(("horizon_days", "rate"), [(365, 0.10), (90, 0.0), (730, 0.25)])
def test_clv_predictions_discount_both_parts_at_the_horizon_and_rate(
    tmp_path: Path, horizon_days: int, rate: float
) -> None:
    """The path the warehouse model takes: orders read from DuckDB, both parts, their sum."""
    as_of = date(2024, 12, 31)
    purchases = synthetic_purchases(np.random.default_rng(5), 60, as_of)
    con = duckdb.connect(str(tmp_path / "orders.duckdb"))
    try:
        con.execute("CREATE TABLE orders AS SELECT *, 'purchase' AS order_type FROM purchases")
        mrr = {"C0000001": 19.0, "C0000002": 0.0, "C9000001": 49.0, "C9000002": 0.0}  # C9...: no purchase yet
        customers = pd.DataFrame({"customer_id": [*purchases["customer_id"].unique(), "C9000001", "C9000002"]}).assign(
            mrr_usd=lambda f: f["customer_id"].map(mrr).fillna(5.0)
        )
        got = clv_predictions(lambda sql: con.execute(sql).df(), "orders", customers, as_of, horizon_days, rate)
        # The fitted parameters and histories only; the CLV itself is recomputed below.
        fitted, params = predict_clv(con.execute(purchases_query("orders", as_of)).df(), as_of, horizon_days, rate)
    finally:
        con.close()
    got = got.set_index("customer_id")
    expected_orders = order_clv_with(params, fitted, horizon_days, rate)
    expected_subscription = customers.set_index("customer_id")["mrr_usd"] * subscription_factor(horizon_days, rate)
    assert_money(got.loc[fitted.index, "predicted_order_clv_usd"], expected_orders)
    assert (got.loc[["C9000001", "C9000002"], "predicted_order_clv_usd"] == 0).all()
    assert_money(got["predicted_subscription_clv_usd"], expected_subscription)
    assert_money(got["predicted_clv_usd"], expected_subscription.add(expected_orders, fill_value=0.0))


def test_clv_predictions_carry_the_fitted_figures_rounded_and_nothing_for_the_unpurchased(tmp_path: Path) -> None:
    as_of = date(2024, 12, 31)
    purchases = synthetic_purchases(np.random.default_rng(7), 40, as_of)
    customers = pd.DataFrame({"customer_id": [*purchases["customer_id"].unique(), "C9000001"]}).assign(mrr_usd=np.nan)
    con = duckdb.connect(str(tmp_path / "orders.duckdb"))
    try:
        con.execute("CREATE TABLE orders AS SELECT *, 'purchase' AS order_type FROM purchases")
        got = clv_predictions(lambda sql: con.execute(sql).df(), "orders", customers, as_of, 365, 0.1)
        fitted, _ = predict_clv(con.execute(purchases_query("orders", as_of)).df(), as_of, 365, 0.1)
        con.execute("DELETE FROM orders")
        nobody = clv_predictions(lambda sql: con.execute(sql).df(), "orders", customers, as_of, 365, 0.1)
    finally:
        con.close()
    assert list(got.columns) == [
        "customer_id",
        "as_of_date",
        "p_alive",
        "expected_purchases",
        "expected_spend_per_purchase_usd",
        "predicted_order_clv_usd",
        "predicted_subscription_clv_usd",
        "predicted_clv_usd",
    ]
    assert list(got["customer_id"]) == list(customers["customer_id"]) and set(got["as_of_date"]) == {as_of}
    indexed = got.set_index("customer_id").loc[fitted.index]
    np.testing.assert_array_equal(indexed["p_alive"], fitted["p_alive"].astype(float).round(6))
    np.testing.assert_array_equal(indexed["expected_purchases"], fitted["expected_purchases"].astype(float).round(6))
    spend = fitted["expected_spend_per_purchase"].astype(float).round(4)
    np.testing.assert_array_equal(indexed["expected_spend_per_purchase_usd"], spend)
    np.testing.assert_array_equal(indexed["predicted_order_clv_usd"], fitted["clv"].astype(float).round(2))
    assert (indexed["predicted_subscription_clv_usd"] == 0).all()  # no MRR: no subscription value
    unpurchased = got.set_index("customer_id").loc["C9000001"]
    assert unpurchased[["p_alive", "expected_purchases", "expected_spend_per_purchase_usd"]].isna().all()
    assert unpurchased["predicted_clv_usd"] == 0
    # With no purchase in the warehouse at all, every customer is there, with no order value.
    assert list(nobody["customer_id"]) == list(customers["customer_id"])
    assert (nobody["predicted_order_clv_usd"] == 0).all() and nobody["p_alive"].isna().all()


def order_clv_with(params: dict[str, float], fitted: pd.DataFrame, horizon_days: int, rate: float) -> pd.Series:
    """order_clv_by_hand with fitted parameters in place of the CDNOW ones."""
    bgnbd = (params["r"], params["alpha"], params["a"], params["b"])
    spend = (params["p"], params["q"], params["gamma"])
    return pd.Series(order_clv_by_hand(fitted, horizon_days, rate, bgnbd, spend), index=fitted.index)


def assert_money(got: pd.Series, expected: pd.Series) -> None:
    """Equal to the cent (the package rounds to cents; a hair more for the rounding of the sum)."""
    got, expected = got.sort_index(), expected.reindex(got.index).sort_index()
    assert got.notna().all() and expected.notna().all()
    np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=0, atol=0.0101)
    assert (expected.abs() > 1).any()  # the figures compared are not all (near) zero


def test_the_warehouse_clv_uses_the_projects_horizon_and_rate(scored_base: Scored) -> None:
    variables = yaml.safe_load((PROJECT_ROOT / "project.yaml").read_text())["variables"]
    horizon_days, rate = int(variables["clv_horizon_days"]), float(variables["clv_annual_discount_rate"])
    assert horizon_days > 30 and rate > 0  # otherwise this test could not see a discounting error
    with read_only_warehouse(scored_base) as con:
        scores = con.execute(
            "SELECT s.customer_id, s.predicted_order_clv_usd, s.predicted_subscription_clv_usd, "
            "f.mrr_usd FROM scoring.clv_predictions AS s JOIN intermediate.int_customer_features AS f "
            "USING (customer_id)"
        ).df()
        ((as_of,),) = con.execute("SELECT DISTINCT as_of_date FROM scoring.clv_predictions").fetchall()
        purchases = con.execute(purchases_query("core.fct_orders", as_of)).df()
    scores = scores.set_index("customer_id")
    fitted, params = predict_clv(purchases, as_of, horizon_days, rate)
    expected_subscription = scores["mrr_usd"] * subscription_factor(horizon_days, rate)
    assert_money(scores["predicted_subscription_clv_usd"], expected_subscription)
    expected_orders = order_clv_with(params, fitted, horizon_days, rate)
    assert_money(scores.loc[fitted.index, "predicted_order_clv_usd"], expected_orders)


# ---- the export's formula guard ----------------------------------------------------------------
# OWASP, CSV injection: a cell starting with any of these is read as a formula. Written out here,
# not taken from the package's FORMULA_PREFIXES, so that a shortened list fails.
OWASP_FORMULA_STARTS = {"equals": "=", "plus": "+", "minus": "-", "at": "@", "tab": "\t", "carriage_return": "\r"}
HARMLESS = ("Ann", "O'Brien", "a=b", "Jean-Luc", "ann@example.com", "3.14", "São Paulo", "", "'quoted")
HARMLESS_FIRST_NAME = "Zoë O'Brien=Smith"


def formula_payload(start: str) -> str:
    return f'{start}HYPERLINK("http://attacker.example","open")'


@pytest.mark.parametrize("start", OWASP_FORMULA_STARTS.values(), ids=OWASP_FORMULA_STARTS.keys())
def test_spreadsheet_safe_quotes_every_formula_start(start: str) -> None:
    for value in (start, f"{start}1+1", formula_payload(start)):
        assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", HARMLESS)
def test_spreadsheet_safe_leaves_harmless_text_as_it_is(value: str) -> None:
    assert spreadsheet_safe(value) == value


def test_spreadsheet_safe_writes_other_values_as_plain_text() -> None:
    assert [spreadsheet_safe(v) for v in (None, 42, 0.5, True, date(2025, 7, 31))] == [
        "",
        "42",
        "0.5",
        "True",
        "2025-07-31",
    ]
    assert spreadsheet_safe(-3) == "'-3"  # a negative number is a formula start too


@contextmanager
def read_only_warehouse(scored: Scored) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(scored.paths.warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


def landing_cell(value: object) -> str:
    """A value as the landing contract writes it (dates ISO, booleans lower case, null empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# The current profile of opted-in retention customers last changed before the as-of date.
QUIET_RETENTION_PROFILES = """
WITH latest AS (
  SELECT *, regexp_extract(_source_file, '[0-9]{4}-[0-9]{2}-[0-9]{2}')::DATE AS file_date
  FROM raw.customers
  QUALIFY row_number() OVER (
    PARTITION BY customer_id ORDER BY file_date DESC, updated_at DESC, _source_file DESC, _row_number DESC) = 1
)
SELECT latest.* FROM latest JOIN marts.mart_customer_360 AS m USING (customer_id)
WHERE m.eligible_retention_campaign AND latest.marketing_opt_in AND latest.file_date < $as_of
ORDER BY customer_id
"""


@dataclass(frozen=True)
class FormulaExport:
    sent: dict[str, dict[str, object]]  # customer_id -> the profile version delivered
    exported: dict[str, dict[str, str]]  # customer_id -> the export's row, as read back


@pytest.fixture(scope="module")
def hostile_export(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> FormulaExport:
    """A copy of the scored warehouse in which opted-in retention customers take, on the as-of
    date, a first name starting with each formula character (and one a harmless name); the
    campaign export is written and read back: customer_id -> the row as a spreadsheet gets it."""
    scored = scored_copy(scored_base, tmp_path_factory.mktemp("formula_export"))
    with read_only_warehouse(scored) as con:
        cursor = con.execute(QUIET_RETENTION_PROFILES, {"as_of": SCORED_AS_OF})
        columns = [d[0] for d in cursor.description]
        profiles = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    names = [formula_payload(s) for s in OWASP_FORMULA_STARTS.values()] + [HARMLESS_FIRST_NAME]
    assert len(profiles) >= len(names)
    changed = [p | {"first_name": n} for p, n in zip(profiles, names, strict=False)]
    write_profile_versions(scored.paths.landing / "customers" / f"{SCORED_AS_OF}-formula-names.csv", changed)
    report = ingest(scored.paths.landing, scored.paths.warehouse)
    assert report.total("rows_loaded") == len(changed) and report.total("rows_rejected") == 0
    out = tmp_path_factory.mktemp("formula_export_out") / "retention.csv"
    export_campaign(scored.paths, "retention", out)
    with out.open(newline="", encoding="utf-8") as handle:
        exported = {row["customer_id"]: row for row in csv.DictReader(handle)}
    return FormulaExport({str(p["customer_id"]): p for p in changed}, exported)


def write_profile_versions(path: Path, profiles: list[dict[str, object]]) -> None:
    """New profile versions, dated the as-of date, in the columns of the landing file."""
    columns = [c for c in profiles[0] if not c.startswith("_") and c != "file_date"]
    updated_at = datetime.combine(SCORED_AS_OF, datetime.min.time()) + timedelta(hours=9)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(columns)
        for profile in profiles:
            writer.writerow([landing_cell(updated_at if c == "updated_at" else profile[c]) for c in columns])


def exported_row_with_first_name(export: FormulaExport, first_name: str) -> dict[str, str]:
    (customer,) = [c for c, p in export.sent.items() if p["first_name"] == first_name]
    return export.exported[customer]


@pytest.mark.parametrize("start", OWASP_FORMULA_STARTS.values(), ids=OWASP_FORMULA_STARTS.keys())
def test_the_written_export_quotes_every_formula_start(hostile_export: FormulaExport, start: str) -> None:
    payload = formula_payload(start)
    assert exported_row_with_first_name(hostile_export, payload)["first_name"] == "'" + payload


def test_the_written_export_keeps_harmless_values_as_they_are(hostile_export: FormulaExport) -> None:
    row = exported_row_with_first_name(hostile_export, HARMLESS_FIRST_NAME)
    sent = hostile_export.sent[row["customer_id"]]
    assert row["first_name"] == HARMLESS_FIRST_NAME
    assert [row[c] for c in ("last_name", "email")] == [sent["last_name"], sent["email"]]
    assert row["country_code"] == sent["country"] and row["segment"] == "retention"


# ---- personal data by content -------------------------------------------------------------------
# The name check (audits/no_pii_columns.sql) misses a PII column under another name. These look at
# the values: emails, customers' full names and each customer's date of birth, read here from the
# raw profiles (every version), in every column of every table BI tools read.
BI_SCHEMAS = ("marts", "metrics", "scoring")
EMAIL_LIKE = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
# A control: the raw profile under harmless-looking names, which each check must flag.
RENAMED_PII = (
    "(SELECT customer_id, email AS contact, date_of_birth AS born_on, city,"
    " first_name || ' ' || last_name AS display_name FROM raw.customers)"
)
RENAMED_PII_COLUMNS = {
    "customer_id": "VARCHAR",
    "contact": "VARCHAR",
    "born_on": "DATE",
    "city": "VARCHAR",
    "display_name": "VARCHAR",
}


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def bi_tables(scored_base: Scored) -> dict[str, dict[str, str]]:
    """Every table and view BI tools read: relation (quoted) -> column -> type."""
    with read_only_warehouse(scored_base) as con:
        rows = con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema IN (SELECT unnest($schemas)) ORDER BY ALL",
            {"schemas": list(BI_SCHEMAS)},
        ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for schema, table, column, kind in rows:
        tables.setdefault(f"{quoted(schema)}.{quoted(table)}", {})[column] = kind
    return tables


@pytest.fixture(scope="module")
def customer_pii(scored_base: Scored) -> dict[str, list[object]]:
    """Emails, full names and dates of birth of every profile version, from raw.customers."""
    with read_only_warehouse(scored_base) as con:
        emails, names, dobs = con.execute(
            "SELECT list(DISTINCT lower(email)), "
            "list(DISTINCT lower(first_name || ' ' || last_name)) || list(DISTINCT lower(last_name || ', ' || "
            "first_name)), list(DISTINCT date_of_birth) FROM raw.customers"
        ).fetchone()
    assert len(emails) > 100 and len(names) > 200 and len(dobs) > 100  # the checks have values to find
    return {"emails": emails, "names": names, "dobs": dobs}


def columns_matching(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[str], predicate: str, params: dict[str, object]
) -> list[str]:
    """The columns of `relation` with a value (as text, `{cell}` in `predicate`) for which
    `predicate` holds: one scan of the relation for all its columns."""
    if not columns:
        return []
    counts = ", ".join(
        f"count(*) FILTER (WHERE {predicate.format(cell=f'CAST({quoted(c)} AS VARCHAR)')})" for c in columns
    )
    (found,) = con.execute(f"SELECT [{counts}] FROM {relation}", params).fetchone()
    return [c for c, n in zip(columns, found, strict=True) if n]


def email_columns(
    con: duckdb.DuckDBPyConnection, relation: str, columns: dict[str, str], pii: dict[str, list[object]]
) -> list[str]:
    predicate = "regexp_matches({cell}, $email_like) OR lower({cell}) IN (SELECT unnest($emails))"
    return columns_matching(
        con, relation, list(columns), predicate, {"emails": pii["emails"], "email_like": EMAIL_LIKE}
    )


def full_name_columns(
    con: duckdb.DuckDBPyConnection, relation: str, columns: dict[str, str], pii: dict[str, list[object]]
) -> list[str]:
    predicate = "lower(trim({cell})) IN (SELECT unnest($names))"
    return columns_matching(con, relation, list(columns), predicate, {"names": pii["names"]})


def birth_date_columns(
    con: duckdb.DuckDBPyConnection, relation: str, columns: dict[str, str], pii: dict[str, list[object]]
) -> list[str]:
    """Columns holding a customer's own date of birth on that customer's row (any customer's,
    in a table without customer_id). Dates, timestamps and text that reads as a date count."""
    dated = [c for c, kind in columns.items() if kind in DATE_TYPES or kind == "VARCHAR"]
    if "customer_id" not in columns:
        predicate = "TRY_CAST({cell} AS DATE) IN (SELECT unnest($dobs))"
        return columns_matching(con, relation, dated, predicate, {"dobs": pii["dobs"]})
    return [
        column
        for column in dated
        if con.execute(
            f"SELECT count(*) FROM {relation} AS t JOIN (SELECT DISTINCT customer_id, date_of_birth "
            "FROM raw.customers) AS p ON t.customer_id = p.customer_id "
            f"AND TRY_CAST(CAST(t.{quoted(column)} AS VARCHAR) AS DATE) = p.date_of_birth"
        ).fetchone()[0]
    ]


CHECKS = {"email": email_columns, "full_name": full_name_columns, "date_of_birth": birth_date_columns}


def test_the_content_checks_find_pii_under_harmless_names(
    scored_base: Scored, customer_pii: dict[str, list[object]]
) -> None:
    """A control: without it, a check that can find nothing would pass every mart."""
    found = {}
    with read_only_warehouse(scored_base) as con:
        for name, check in CHECKS.items():
            found[name] = check(con, RENAMED_PII, RENAMED_PII_COLUMNS, customer_pii)
    assert found == {"email": ["contact"], "full_name": ["display_name"], "date_of_birth": ["born_on"]}


def test_the_content_checks_cover_every_mart_and_metric_model(bi_tables: dict[str, dict[str, str]]) -> None:
    expected = {
        f"{quoted(folder)}.{quoted(path.stem)}"
        for folder in ("marts", "metrics")
        for path in (PROJECT_ROOT / "models" / folder).glob("*.sql")
    }
    assert len(expected) >= 15 and expected <= set(bi_tables)


@pytest.mark.parametrize("kind", CHECKS)
def test_no_mart_holds_personal_data_under_any_column_name(
    scored_base: Scored, bi_tables: dict[str, dict[str, str]], customer_pii: dict[str, list[object]], kind: str
) -> None:
    with read_only_warehouse(scored_base) as con:
        exposed = {
            relation: found
            for relation, columns in bi_tables.items()
            if (found := CHECKS[kind](con, relation, columns, customer_pii))
        }
    assert exposed == {}
