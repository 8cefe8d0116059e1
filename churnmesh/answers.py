"""Answers to the questions analysts ask, read from what the refresh publishes (publication.py).

Each function takes a read-only connection to the publication and raw arguments, checks the
arguments with churnmesh.parameters (a refusal is an InvalidParameter or a ValueError whose message
says what was expected), and returns a JSON-ready dict: the rows, how many there were, whether the
row limit cut them, the table they come from, and the as-of date and data watermark they describe.
Values reach SQL as bound parameters; names written into SQL are validated names. The
publication holds no personal data (publication.py refuses such a column), so no answer can.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb

from churnmesh import definitions, parameters, query
from churnmesh.publication import ABOUT, KPI_HISTORY, MODEL_CARD
from churnmesh.query import json_ready, quoted, quoted_name
from churnmesh.settings import business_definitions

MAX_ROWS = 500
CUSTOMER_360 = '"marts"."mart_customer_360"'
# Snapshot KPIs aggregate the 360 (c) joined to the CLV mart (v), one row per customer.
CUSTOMERS = "marts.mart_customer_360 AS c JOIN marts.mart_clv AS v USING (customer_id)"
MONTHLY = "metrics.metric_mom_spend_change AS m JOIN marts.mart_customer_360 AS c USING (customer_id)"
ACTIVITY = "marts.mart_customer_monthly_activity"
# Running totals per month end (and segment): the month_end expressions of KPIS read these columns.
MONTH_END_SQL = """
WITH activity AS (
  SELECT a.month_start, {segment} AS segment, sum(a.net_revenue_usd) AS revenue,
         sum(a.purchase_amount_usd) AS purchase_amount, sum(a.purchases) AS purchases
  FROM marts.mart_customer_monthly_activity AS a JOIN marts.mart_customer_360 AS c USING (customer_id)
  {where} GROUP BY ALL
), signups AS (
  SELECT CAST(date_trunc('month', c.signup_date) AS DATE) AS month_start, {segment} AS segment, count(*) AS signed_up
  FROM marts.mart_customer_360 AS c {where} GROUP BY ALL
), running AS (
  SELECT month_start, segment,
         sum(coalesce(a.revenue, 0)) OVER w AS revenue_to_date,
         sum(coalesce(a.purchase_amount, 0)) OVER w AS purchase_amount_to_date,
         sum(coalesce(a.purchases, 0)) OVER w AS purchases_to_date,
         sum(coalesce(s.signed_up, 0)) OVER w AS customers
  FROM (SELECT month_start, segment FROM activity UNION SELECT month_start, segment FROM signups) AS m
  LEFT JOIN activity AS a USING (month_start, segment)
  LEFT JOIN signups AS s USING (month_start, segment)
  WINDOW w AS (PARTITION BY segment ORDER BY month_start)
), as_of AS (SELECT any_value(as_of_date) AS day FROM marts.mart_customer_360)
SELECT r.month_start AS month, r.segment,
       r.month_start = date_trunc('month', as_of.day) AND last_day(as_of.day) <> as_of.day AS is_partial_month,
       {values}
FROM running AS r, as_of
WHERE r.month_start >= ?
"""
CHURN_ORDERS = {
    "lost_clv_usd": "c.lost_clv_usd DESC NULLS LAST",
    "historical_ltv_usd": "v.historical_clv_usd DESC",
    "predicted_clv_usd": "c.predicted_clv_usd DESC NULLS LAST",
    "churned_date": "c.churned_date DESC",
}
RISK_LEVELS = ("high", "medium", "low")
MONTHS_ONLY = "WHERE period_type = 'month'"
NOT_SCORED = "no churn model is live: the marts hold no churn probability (train one: churnmesh train)"
# Churned on the as-of date and within `days` days ending on it (definitions.py); `days` is SQL.
CHURNED_WITHIN = "(c.lifecycle_stage = 'churned' AND c.churned_date > c.as_of_date - {days})"

Connection = duckdb.DuckDBPyConnection


def churned_within(days: int) -> str:
    """CHURNED_WITHIN over a fixed window of the KPIs below (a user's window is bound instead)."""
    return CHURNED_WITHIN.format(days=int(days))


@dataclass(frozen=True)
class Kpi:
    name: str
    description: str
    unit: str
    expression: str
    monthly: bool = False  # a series by calendar month (metrics.metric_mom_spend_change)
    # The same figure as it stood at each month end, over the running totals of MONTH_END_SQL;
    # None when it cannot be recomputed for past months (predictions, lifecycle stages).
    month_end: str | None = None


KPIS: tuple[Kpi, ...] = (
    Kpi("customers", "Customers signed up by the as-of date", "customers", "count(*)", month_end="customers"),
    Kpi(
        "active_customers",
        "Customers in the active lifecycle stage (explain_definition('active'))",
        "customers",
        "count(*) FILTER (WHERE c.lifecycle_stage = 'active')",
    ),
    Kpi(
        "churned_customers",
        "Customers in the churned lifecycle stage on the as-of date",
        "customers",
        "count(*) FILTER (WHERE c.lifecycle_stage = 'churned')",
    ),
    Kpi(
        "churned_last_30_days",
        "Customers who churned in the 30 days ending on the as-of date",
        "customers",
        f"count(*) FILTER (WHERE {churned_within(30)})",
    ),
    Kpi(
        "churned_last_90_days",
        "Customers who churned in the 90 days ending on the as-of date",
        "customers",
        f"count(*) FILTER (WHERE {churned_within(90)})",
    ),
    Kpi(
        "ltv_usd",
        "Mean historical lifetime value: net revenue to date (purchases - refunds + subscription charges)",
        "usd",
        "avg(v.historical_clv_usd)",
        month_end="revenue_to_date / nullif(customers, 0)",
    ),
    Kpi(
        "total_revenue_usd",
        "Net revenue to date over all customers",
        "usd",
        "sum(v.historical_clv_usd)",
        month_end="revenue_to_date",
    ),
    Kpi(
        "atv_usd",
        "Average transaction value: the mean purchase amount over all purchases to date",
        "usd",
        "sum(c.average_order_value_usd * c.frequency) / nullif(sum(c.frequency), 0)",
        month_end="purchase_amount_to_date / nullif(purchases_to_date, 0)",
    ),
    Kpi(
        "predicted_clv_usd",
        "Predicted CLV over clv_horizon_days, summed over customers",
        "usd",
        "sum(c.predicted_clv_usd)",
    ),
    Kpi(
        "revenue_at_risk_usd",
        "Churn probability x predicted CLV over open customers (explain_definition('revenue at risk'))",
        "usd",
        "sum(c.revenue_at_risk_usd)",
    ),
    Kpi(
        "lost_to_churn_usd",
        "Predicted CLV of customers already churned: value lost, not at risk",
        "usd",
        "sum(c.lost_clv_usd)",
    ),
    Kpi(
        "net_order_spend_usd",
        "Purchases minus refunds in a calendar month",
        "usd",
        "sum(m.spend_usd)",
        monthly=True,
    ),
    Kpi(
        "mom_spend_change_pct",
        "Change of net order spend on the month before, in percent",
        "percent",
        "100 * (sum(m.spend_usd) - sum(m.prior_month_spend_usd)) / nullif(sum(m.prior_month_spend_usd), 0)",
        monthly=True,
    ),
    Kpi(
        "buyers",
        "Customers with net order spend above 0 in a calendar month",
        "customers",
        "count(*) FILTER (WHERE m.spend_usd > 0)",
        monthly=True,
    ),
)
KPI_NAMES = tuple(k.name for k in KPIS)
# KPI values are rounded as they are reported: cents, and hundredths of a percent.
DECIMALS = {"usd": 2, "percent": 2, "customers": 0}


def snapshot_kpis_sql() -> str:
    """One row: the as-of date and every snapshot KPI, by the expressions above."""
    values = ", ".join(f"{_rounded(k)} AS {quoted(k.name)}" for k in KPIS if not k.monthly)
    return f"SELECT any_value(c.as_of_date) AS as_of_date, {values} FROM {CUSTOMERS}"


def kpi_history(con: Connection) -> dict[str, Any]:
    """Every snapshot KPI on each as-of date published so far (oldest first)."""
    rows = _records(con.execute(f"SELECT * FROM {KPI_HISTORY} ORDER BY as_of_date"))
    return _answer(con, KPI_HISTORY, rows[-MAX_ROWS:], len(rows))


def about(con: Connection) -> dict[str, Any]:
    as_of, mark, model = con.execute(f"SELECT as_of_date, data_watermark, churn_model_version FROM {ABOUT}").fetchone()
    return {"as_of_date": json_ready(as_of), "data_watermark": json_ready(mark), "churn_model_version": model}


def list_kpis(con: Connection) -> dict[str, Any]:
    rows = [
        {
            "name": k.name,
            "description": k.description,
            "unit": k.unit,
            "by_month": k.monthly or k.month_end is not None,
            "snapshot": not k.monthly,
        }
        for k in KPIS
    ]
    return _answer(con, "marts.mart_customer_360, marts.mart_clv, metrics.metric_mom_spend_change", rows, len(rows))


def get_kpi(con: Connection, name: str, period: str | None = None, segment: str | None = None) -> dict[str, Any]:
    kpi = KPIS[KPI_NAMES.index(parameters.one_of(KPI_NAMES, "name")(name))]
    group, where, params = _segment(con, segment)
    if kpi.monthly:
        return _monthly_kpi(con, kpi, period, group, where, params)
    if period is not None:
        if kpi.month_end is not None:
            return _month_end_kpi(con, kpi, period, group, where, params)
        monthly = ", ".join(k.name for k in KPIS if k.monthly or k.month_end)
        raise ValueError(f"{kpi.name} is a snapshot as of the as-of date, not by month; by month: {monthly}")
    select = f"CAST(c.{quoted(group)} AS VARCHAR) AS {quoted(group)}, " if group else ""
    value = _rounded(kpi)
    sql = f"SELECT {select}{value} AS value, count(*) AS customers FROM {CUSTOMERS} {where}"
    sql += f" GROUP BY 1 ORDER BY value DESC NULLS LAST, {quoted(group)}" if group else ""
    rows = _records(con.execute(sql, params))
    return _answer(con, "marts.mart_customer_360", rows, len(rows), kpi=kpi.name, unit=kpi.unit)


def _rounded(kpi: Kpi) -> str:
    return f"round({kpi.expression}, {DECIMALS[kpi.unit]})"


def _monthly_kpi(
    con: Connection, kpi: Kpi, period: str | None, group: str | None, where: str, params: list[object]
) -> dict[str, Any]:
    clauses = [where.removeprefix("WHERE ")] if where else []
    if period is None:  # the as-of month
        clauses.append("m.month_start = date_trunc('month', c.as_of_date)")
    elif period != "monthly":
        clauses.append("m.month_start = ?")
        params = [*params, parameters.month(period, "period")]
    filters = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    keys = ["m.month_start AS month", "bool_or(m.is_partial_month) AS is_partial_month"]
    keys += [f"CAST(c.{quoted(group)} AS VARCHAR) AS {quoted(group)}"] if group else []
    order = f"month DESC, {quoted(group)}" if group else "month DESC"
    sql = f"SELECT {', '.join(keys)}, {_rounded(kpi)} AS value FROM {MONTHLY} {filters} GROUP BY ALL ORDER BY {order}"
    rows = _records(con.execute(sql, params))
    if not rows:
        span = _span(con, "month_start", "metrics.metric_mom_spend_change", "months with spend")
        raise ValueError(f"no {kpi.name} for {period or 'the as-of month'}: {span}")
    return _answer(con, "metrics.metric_mom_spend_change", rows[:MAX_ROWS], len(rows), kpi=kpi.name, unit=kpi.unit)


def _month_end_kpi(
    con: Connection, kpi: Kpi, period: str, group: str | None, where: str, params: list[object]
) -> dict[str, Any]:
    """A snapshot KPI as it stood at the end of each month (the as-of date for the as-of month)."""
    sql, bound = _month_end_query((kpi,), group, where, params)
    if period != "monthly":
        sql += " AND month_start = ?"
        bound.append(parameters.month(period, "period"))
    keys = f"month, is_partial_month, segment AS {quoted(group)}" if group else "month, is_partial_month"
    order = f"month DESC, {quoted(group)}" if group else "month DESC"
    rows = _records(con.execute(f"SELECT {keys}, {quoted(kpi.name)} AS value FROM ({sql}) ORDER BY {order}", bound))
    if not rows:
        span = _span(con, "month_start", ACTIVITY, "months with activity", "WHERE month_start >= ?", [history_start()])
        raise ValueError(f"no {kpi.name} for {period}: {span}")
    return _answer(con, f"{ACTIVITY}, marts.mart_customer_360", rows[:MAX_ROWS], len(rows), kpi=kpi.name, unit=kpi.unit)


def month_end_kpis(con: Connection) -> dict[str, Any]:
    """Every KPI with a month-end reading, one row per month (oldest first), in one pass."""
    kpis = tuple(k for k in KPIS if k.month_end is not None)
    sql, bound = _month_end_query(kpis, None, "", [])
    columns = ", ".join(quoted(k.name) for k in kpis)
    rows = _records(con.execute(f"SELECT month, is_partial_month, {columns} FROM ({sql}) ORDER BY month", bound))
    return _answer(con, f"{ACTIVITY}, marts.mart_customer_360", rows[-MAX_ROWS:], len(rows))


def _month_end_query(
    kpis: Sequence[Kpi], group: str | None, where: str, params: list[object]
) -> tuple[str, list[object]]:
    segment = f"CAST(c.{quoted(group)} AS VARCHAR)" if group else "'all'"
    values = ", ".join(f"round({k.month_end}, {DECIMALS[k.unit]}) AS {quoted(k.name)}" for k in kpis)
    # The segment filter appears in both CTEs. Months before the history the warehouse builds
    # (project.yaml history_start) would count customers without their orders.
    return MONTH_END_SQL.format(segment=segment, where=where, values=values), [*params, *params, history_start()]


def history_start() -> date:
    return date.fromisoformat(str(business_definitions()["history_start"]))


def _span(con: Connection, column: str, table: str, what: str, where: str = "", params: Sequence[object] = ()) -> str:
    """'<what> run from YYYY-MM to YYYY-MM' over a date column of a published table; `where` is
    this module's own text, its values in `params`."""
    first, last = con.execute(
        f"SELECT min({quoted(column)}), max({quoted(column)}) FROM {quoted_name(table)} {where}", list(params)
    ).fetchone()
    return f"{what} run from {json_ready(first)[:7]} to {json_ready(last)[:7]}" if first else f"no {what} yet"


def _segment(con: Connection, segment: str | None) -> tuple[str | None, str, list[object]]:
    """A segment argument: None (all customers), a dimension (one group per value) or
    dimension=value (those customers only; the value must exist)."""
    if segment is None:
        return None, "", []
    if "=" not in segment:
        return parameters.segment_dimension(segment, "segment"), "", []
    dimension, value = parameters.segment_filter(segment, "segment")
    known = _column(con, f"SELECT DISTINCT CAST({quoted(dimension)} AS VARCHAR) FROM {CUSTOMER_360} ORDER BY 1")
    if value not in known:
        listed = ", ".join(str(v) for v in known if v is not None)
        raise ValueError(f"segment: no customers with {dimension} = {parameters.shown(value)}; values: {listed}")
    return None, f"WHERE CAST(c.{quoted(dimension)} AS VARCHAR) = ?", [value]


def top_root_causes(
    con: Connection, period: str = "last_month", n: int = 5, category: str | None = None
) -> dict[str, Any]:
    limit = parameters.whole_number(n, 1, MAX_ROWS, "n")
    period_type, start = _ticket_period(con, period)
    clauses, params = ["period_type = ?", "period_start = ?"], [period_type, start]
    if category is not None:
        categories = _column(con, "SELECT DISTINCT product_category FROM marts.mart_top_root_causes")
        wanted = parameters.one_of(sorted(categories), "category")(category)
        clauses.append("product_category = ?")
        params.append(wanted)
    result = con.execute(
        "SELECT root_cause, product_category, tickets, share_of_period, share_open, satisfaction_rate, "
        "mean_resolution_hours, median_resolution_hours FROM marts.mart_top_root_causes "
        f"WHERE {' AND '.join(clauses)} ORDER BY tickets DESC, root_cause, product_category",
        params,
    )
    rows = _records(result)
    if not rows:
        span = _span(con, "period_start", "marts.mart_top_root_causes", "months with tickets", MONTHS_ONLY)
        raise ValueError(f"no tickets in the {period_type} starting {start}: {span}")
    return _answer(
        con, "marts.mart_top_root_causes", rows[:limit], len(rows), period_type=period_type, period_start=start
    )


def _ticket_period(con: Connection, period: str) -> tuple[str, str]:
    """last_month / last_quarter: the latest month or quarter complete on the as-of date; or
    YYYY-MM / YYYY-Qn."""
    raw = parameters.text(period, "period", 16)
    if raw in ("last_month", "last_quarter"):
        (as_of,) = con.execute(f"SELECT as_of_date FROM {ABOUT}").fetchone()
        return _last_complete(as_of, raw == "last_quarter")
    if "Q" in raw:
        return "quarter", parameters.quarter(raw, "period").isoformat()
    return "month", parameters.month(raw, "period").isoformat()


def _last_complete(as_of: date, quarterly: bool) -> tuple[str, str]:
    span = 3 if quarterly else 1
    after = as_of + timedelta(days=1)  # the period is complete when the day after the as-of date starts a new one
    months = after.year * 12 + after.month - 1
    first = months - (months % span) - span
    return ("quarter" if quarterly else "month"), date(first // 12, first % 12 + 1, 1).isoformat()


def churned_customers(
    con: Connection,
    window_days: int = 30,
    segment: str | None = None,
    order_by: str = "lost_clv_usd",
    limit: int = 50,
) -> dict[str, Any]:
    days = parameters.whole_number(window_days, 1, 3650, "window_days")
    order = CHURN_ORDERS[parameters.one_of(CHURN_ORDERS, "order_by")(order_by)]
    rows_wanted = parameters.whole_number(limit, 1, MAX_ROWS, "limit")
    where, params = _segment_filter_only(con, segment)
    window = CHURNED_WITHIN.format(days="CAST(? AS INTEGER)")
    filters = f"WHERE {window}" + (f" AND {where.removeprefix('WHERE ')}" if where else "")
    result = con.execute(
        "SELECT c.customer_id, c.churned_date, c.rfm_segment, c.value_tier, c.plan_tier, c.loyalty_tier, c.region, "
        "v.historical_clv_usd AS historical_ltv_usd, c.predicted_clv_usd, c.lost_clv_usd, c.primary_risk_reason, "
        f"count(*) OVER () AS matching, sum(c.lost_clv_usd) OVER () AS total_lost FROM {CUSTOMERS} {filters} "
        f"ORDER BY {order}, c.customer_id LIMIT ?",
        [days, *params, rows_wanted],
    )
    rows = _records(result)
    matching = rows[0].pop("matching") if rows else 0
    total_lost = rows[0].pop("total_lost") if rows else 0.0
    for row in rows[1:]:
        del row["matching"], row["total_lost"]
    return _answer(
        con,
        "marts.mart_customer_360",
        rows,
        matching,
        window_days=days,
        total_lost_clv_usd=total_lost,
        order_by=order_by,
    )


def _segment_filter_only(con: Connection, segment: str | None) -> tuple[str, list[object]]:
    """A segment argument that must pick one segment (dimension=value), as a WHERE clause."""
    if segment is not None and "=" not in segment:
        raise ValueError(f"segment: a segment as dimension=value (e.g. plan_tier=premium), not {segment!r}")
    _, where, params = _segment(con, segment)
    return where, params


def top_at_risk(con: Connection, n: int = 20, segment: str | None = None, level: str | None = None) -> dict[str, Any]:
    limit = parameters.whole_number(n, 1, MAX_ROWS, "n")
    where, params = _segment_filter_only(con, segment)
    clauses = ["c.lifecycle_stage <> 'churned'"] + ([where.removeprefix("WHERE ")] if where else [])
    if level is not None:
        clauses.append("c.churn_risk_level = ?")
        params = [*params, parameters.one_of(RISK_LEVELS, "level")(level)]
    if about(con)["churn_model_version"] is None:
        raise ValueError(NOT_SCORED)
    result = con.execute(
        "SELECT c.customer_id, c.churn_probability, c.churn_risk_level, c.churn_reasons, c.predicted_clv_usd, "
        "c.revenue_at_risk_usd, c.lifecycle_stage, c.rfm_segment, c.value_tier, c.plan_tier, c.model_version, "
        f"count(*) OVER () AS matching FROM {CUSTOMERS} WHERE {' AND '.join(clauses)} "
        "ORDER BY c.revenue_at_risk_usd DESC NULLS LAST, c.customer_id LIMIT ?",
        [*params, limit],
    )
    rows = _records(result)
    matching = rows[0]["matching"] if rows else 0
    for row in rows:
        del row["matching"]
    return _answer(con, "marts.mart_customer_360", rows, matching)


def customer_profile(con: Connection, customer_id: str) -> dict[str, Any]:
    customer = parameters.customer_id(customer_id, "customer_id")
    profile = _records(con.execute(f"SELECT * FROM {CUSTOMER_360} WHERE customer_id = ?", [customer]))
    if not profile:
        raise ValueError(f"no customer {customer} in the marts as of {about(con)['as_of_date']}")
    value = _records(
        con.execute(
            "SELECT historical_clv_usd, order_revenue_usd, subscription_revenue_usd, p_alive "
            "FROM marts.mart_clv WHERE customer_id = ?",
            [customer],
        )
    )
    history = _records(
        con.execute(
            "SELECT as_of_date, churn_probability, churn_risk_level, primary_churn_reason, model_version "
            "FROM scoring.churn_scores WHERE customer_id = ? ORDER BY as_of_date",
            [customer],
        )
    )
    months = _records(
        con.execute(
            "SELECT * EXCLUDE (customer_id, as_of_date) FROM marts.mart_customer_monthly_activity "
            "WHERE customer_id = ? ORDER BY month_start",
            [customer],
        )
    )
    record = profile[0] | (value[0] if value else {})
    return _answer(
        con,
        "marts.mart_customer_360",
        [record],
        1,
        score_history=history[-MAX_ROWS:],
        monthly_activity=months[-MAX_ROWS:],
    )


def revenue_at_risk(con: Connection, by: str = "rfm_segment") -> dict[str, Any]:
    """Revenue at risk per segment: the same query as `churnmesh query segment --by`."""
    columns, rows = query.segment_rows(con, CUSTOMER_360, parameters.segment_dimension(by, "by"), None)
    records = [{c: json_ready(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    total = sum(r["revenue_at_risk_usd"] for r in records)
    return _answer(con, "marts.mart_customer_360", records, len(records), by=by, total_revenue_at_risk_usd=total)


def cohort_retention(con: Connection, cohort: str | None = None) -> dict[str, Any]:
    if cohort is not None:
        start = parameters.month(cohort, "cohort")
        rows = _records(
            con.execute(
                "SELECT cohort_month, months_since_acquisition, activity_month, cohort_customers, customers_retained, "
                "retention_rate, revenue_usd, revenue_retention FROM marts.mart_retention_cohorts "
                "WHERE cohort_month = ? ORDER BY months_since_acquisition",
                [start],
            )
        )
        if not rows:
            raise ValueError(
                f"no cohort {cohort}: {_span(con, 'cohort_month', 'marts.mart_retention_cohorts', 'cohorts')}"
            )
        return _answer(con, "marts.mart_retention_cohorts", rows[:MAX_ROWS], len(rows), cohort=cohort)
    marks = (1, 3, 6, 12)
    pivots = ", ".join(f"max(retention_rate) FILTER (WHERE months_since_acquisition = {m}) AS month_{m}" for m in marks)
    rows = _records(
        con.execute(
            f"SELECT cohort_month, max(cohort_customers) AS cohort_customers, {pivots} "
            "FROM marts.mart_retention_cohorts GROUP BY cohort_month ORDER BY cohort_month"
        )
    )
    return _answer(con, "marts.mart_retention_cohorts", rows[-MAX_ROWS:], len(rows), retention_after_months=marks)


def app_version_impact(con: Connection, version: str | None = None) -> dict[str, Any]:
    sql = "SELECT * FROM marts.mart_app_version_impact"
    params: list[object] = []
    if version is not None:
        sql += " WHERE app_version = ?"
        params.append(parameters.app_version(version, "version"))
    rows = _records(con.execute(sql + " ORDER BY first_seen_date, app_version", params))
    if not rows:
        known = _column(con, "SELECT app_version FROM marts.mart_app_version_impact ORDER BY 1")
        raise ValueError(f"no app version {version}: versions are {', '.join(v for v in known if v) or 'none'}")
    return _answer(con, "marts.mart_app_version_impact", rows[:MAX_ROWS], len(rows))


def explain_definition(con: Connection, term: str) -> dict[str, Any]:
    found = definitions.explain(parameters.text(term, "term", 64))
    row = {"term": found.term, "definition": found.text, "values": found.variables}
    return _answer(con, "project.yaml", [row], 1, terms=definitions.terms())


def model_card(con: Connection) -> dict[str, Any]:
    found = con.execute(f"SELECT model_version, card FROM {MODEL_CARD}").fetchone()
    if found is None:
        raise ValueError(NOT_SCORED)
    version, card = found
    return _answer(con, MODEL_CARD, [{"model_version": version, "card": json.loads(card)}], 1)


def table_schema(con: Connection, table: str) -> dict[str, Any]:
    """A published table's description and its columns with type and description."""
    schema, _, name = parameters.model_name(table, "table").partition(".")
    found = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]
    ).fetchone()
    if found is None:
        raise ValueError(f"no published table {table}: one of {', '.join(published_tables(con))}")
    columns = _records(
        con.execute(
            "SELECT column_name, data_type, comment AS description FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, name],
        )
    )
    return {"table": f"{schema}.{name}", "description": found[0], "columns": columns}


def published_tables(con: Connection) -> list[str]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name <> 'churnmesh' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def _answer(con: Connection, source: str, rows: Sequence[dict[str, Any]], total: int, **extra: Any) -> dict[str, Any]:
    return {
        **about(con),
        "source": source,
        **extra,
        "row_count": len(rows),
        "total_rows": total,
        "truncated": total > len(rows),
        "rows": list(rows),
    }


def _column(con: Connection, sql: str) -> list[Any]:
    return [value for (value,) in con.execute(sql).fetchall()]


def _records(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [d[0] for d in result.description]
    return [{c: json_ready(v) for c, v in zip(columns, row, strict=True)} for row in result.fetchall()]
