"""The dashboard's pages. Every figure comes from the publication through data.py; the KPIs and
tables that answers.py defines are asked from there, so the dashboard, the MCP server and the
report show one definition of each number."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from churnmesh import campaign, parameters
from churnmesh.answers import KPIS, history_start
from churnmesh.dashboard import data

SEGMENT_LABELS = {
    "rfm_segment": "RFM segment",
    "value_tier": "Value tier",
    "lifecycle_stage": "Lifecycle stage",
    "churn_risk_level": "Churn risk level",
    "plan_tier": "Plan",
    "loyalty_tier": "Loyalty tier",
    "region": "Region",
    "favourite_category": "Favourite category",
}
OVERVIEW_KPIS = (
    "customers",
    "active_customers",
    "churned_last_30_days",
    "churned_last_90_days",
    "total_revenue_usd",
    "ltv_usd",
    "atv_usd",
    "predicted_clv_usd",
    "revenue_at_risk_usd",
    "lost_to_churn_usd",
)
KPI_TITLES = {
    "customers": "Customers",
    "active_customers": "Active",
    "churned_customers": "Churned",
    "churned_last_30_days": "Churned, last 30 days",
    "churned_last_90_days": "Churned, last 90 days",
    "total_revenue_usd": "Revenue to date",
    "ltv_usd": "LTV (mean)",
    "atv_usd": "ATV",
    "predicted_clv_usd": "Predicted CLV",
    "revenue_at_risk_usd": "Revenue at risk",
    "lost_to_churn_usd": "Lost to churn",
    "mom_spend_change_pct": "Spend vs last month",
}
UNITS = {k.name: k.unit for k in KPIS}
CUSTOMER_COLUMNS = (
    "SELECT c.customer_id, c.lifecycle_stage, c.rfm_segment, c.value_tier, c.churn_risk_level, c.plan_tier, "
    "c.loyalty_tier, c.region, c.favourite_category, c.churn_probability, c.primary_churn_reason, "
    "c.predicted_clv_usd, c.revenue_at_risk_usd, c.lost_clv_usd, v.historical_clv_usd AS historical_ltv_usd "
    "FROM marts.mart_customer_360 AS c JOIN marts.mart_clv AS v USING (customer_id)"
)


def shown(value: Any, unit: str) -> str:
    """A figure as people read it: whole dollars with separators, percents with one decimal."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if unit == "usd":
        sign, amount = ("-" if value < 0 else ""), abs(value)
        if amount >= 1_000_000:
            return f"{sign}${amount / 1_000_000:,.2f}M"
        if amount >= 10_000:
            return f"{sign}${amount / 1_000:,.1f}K"
        return f"{sign}${amount:,.0f}" if amount >= 1000 else f"{sign}${amount:,.2f}"
    if unit == "percent":
        return f"{value:+.1f}%"
    return f"{value:,.0f}"


def header(title: str) -> data.Version:
    """The page title and what the page describes; stops the page while nothing is published."""
    st.title(title)
    try:
        published = data.version()
    except FileNotFoundError:
        st.info(f"Nothing is published in {data.published_file().parent} yet: run `churnmesh pipeline` first.")
        st.stop()
    about = data.ask(published, "about")
    model = about["churn_model_version"] or "none live"
    st.caption(f"As of {about['as_of_date']} · data watermark {about['data_watermark']} · churn model {model}")
    return published


def overview() -> None:
    published = header("Overview")
    history = data.rows(data.ask(published, "kpi_history"))
    latest = history.iloc[-1]
    previous = history.iloc[-2] if len(history) > 1 else None
    columns = st.columns(4)
    for n, name in enumerate(OVERVIEW_KPIS):
        delta = None if previous is None else shown(latest[name] - previous[name], UNITS[name])
        columns[n % 4].metric(KPI_TITLES[name], shown(latest[name], UNITS[name]), delta, border=True)
    change = data.ask(published, "get_kpi", "mom_spend_change_pct", None, None)["rows"][0]
    columns[len(OVERVIEW_KPIS) % 4].metric(
        KPI_TITLES["mom_spend_change_pct"], shown(change["value"], "percent"), border=True
    )
    _monthly_trends(published)
    _published_trend(history)


# Snapshot KPIs that can be recomputed as they stood at each month end (answers.KPIS month_end).
MONTH_END_TRENDS = tuple(k.name for k in KPIS if k.month_end is not None)


def _monthly_trends(published: data.Version) -> None:
    st.subheader("By month")
    spend = data.rows(data.ask(published, "get_kpi", "net_order_spend_usd", "monthly", None))
    buyers = data.rows(data.ask(published, "get_kpi", "buyers", "monthly", None))
    left, right = st.columns(2)
    left.altair_chart(_line(spend, "month", "value", "Net order spend (USD)"), width="stretch")
    right.altair_chart(_line(buyers, "month", "value", "Buyers"), width="stretch")
    ends = st.columns(2)
    series = data.rows(data.ask(published, "month_end_kpis"))
    for n, name in enumerate(MONTH_END_TRENDS):
        title = f"{KPI_TITLES[name]} at month end"
        ends[n % 2].altair_chart(_line(series, "month", name, title), width="stretch")
    churns = data.frame(
        published,
        "SELECT CAST(date_trunc('month', churned_date) AS DATE) AS month, count(*) AS churns_begun "
        "FROM marts.mart_customer_360 WHERE churned_date >= ? GROUP BY 1 ORDER BY 1",
        (history_start(),),
    )
    ends[len(MONTH_END_TRENDS) % 2].altair_chart(
        _bars(churns, "month", "churns_begun", "Churns begun in the month (customers churned now)"), width="stretch"
    )


def _published_trend(history: pd.DataFrame) -> None:
    st.subheader("As each day was published")
    st.caption(
        "Predictions and lifecycle stages are as each daily refresh saw them; they are not recomputed for past days."
    )
    name = st.selectbox("Figure", OVERVIEW_KPIS, format_func=KPI_TITLES.get, key="trend_kpi")
    if len(history) < 2:
        st.caption("One as-of date published so far: the trend grows with each daily refresh.")
    st.altair_chart(_line(history, "as_of_date", name, KPI_TITLES[name], points=True), width="stretch")


def _line(frame: pd.DataFrame, x: str, y: str, title: str, points: bool = False) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=points)
        .encode(x=alt.X(f"{x}:T", title=None), y=alt.Y(f"{y}:Q", title=None), tooltip=[x, y])
    )


def _bars(frame: pd.DataFrame, x: str, y: str, title: str, x_type: str = "T") -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(x=alt.X(f"{x}:{x_type}", title=None, sort=None), y=alt.Y(f"{y}:Q", title=None), tooltip=[x, y])
    )


SHARES = (
    "churn_probability",
    "previous_probability",
    "mean_churn_probability",
    "share_of_period",
    "share_open",
    "satisfaction_rate",
)


def table_of(frame: pd.DataFrame, key: str | None = None) -> None:
    """A data table with dollars as dollars and probabilities and shares as percents."""
    formats: dict[str, Any] = {
        c: st.column_config.NumberColumn(format="dollar") for c in frame.columns if str(c).endswith("_usd")
    }
    formats |= {c: st.column_config.NumberColumn(format="percent") for c in frame.columns if c in SHARES}
    st.dataframe(frame, hide_index=True, width="stretch", column_config=formats, key=key)


def customers_frame(published: data.Version) -> pd.DataFrame:
    return data.frame(published, CUSTOMER_COLUMNS)


def segment_filters(customers: pd.DataFrame, key: str, dimensions: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """A multiselect per dimension; the chosen values of all of them combine (AND)."""
    chosen: dict[str, tuple[str, ...]] = {}
    columns = st.columns(4)
    for n, dimension in enumerate(dimensions):
        values = sorted(customers[dimension].dropna().astype(str).unique())
        picked = columns[n % 4].multiselect(SEGMENT_LABELS[dimension], values, key=f"{key}_{dimension}")
        chosen[dimension] = tuple(picked)
    return chosen


def filtered(customers: pd.DataFrame, chosen: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    keep = pd.Series(True, index=customers.index)
    for dimension, values in chosen.items():
        if values:
            keep &= customers[dimension].astype("string").isin(values)
    return customers[keep]


def segment_table(customers: pd.DataFrame, by: str) -> pd.DataFrame:
    """Counts, value and risk per value of `by` (revenue at risk counts open customers only, as defined)."""
    grouped = customers.assign(**{by: customers[by].astype("string").fillna("none")}).groupby(by, dropna=False)
    table = grouped.agg(
        customers=("customer_id", "size"),
        historical_ltv_usd=("historical_ltv_usd", "sum"),
        predicted_clv_usd=("predicted_clv_usd", "sum"),
        revenue_at_risk_usd=("revenue_at_risk_usd", "sum"),
        lost_clv_usd=("lost_clv_usd", "sum"),
    )
    open_customers = customers[customers.lifecycle_stage != "churned"]
    table["mean_churn_probability"] = open_customers.groupby(open_customers[by].astype("string").fillna("none"))[
        "churn_probability"
    ].mean()
    return table.sort_values("revenue_at_risk_usd", ascending=False).reset_index()


def segments() -> None:
    published = header("Segments")
    customers = customers_frame(published)
    chosen = segment_filters(customers, "segments", tuple(SEGMENT_LABELS))
    by = st.selectbox("Group by", tuple(SEGMENT_LABELS), format_func=SEGMENT_LABELS.get, key="segments_by")
    selection = filtered(customers, chosen)
    st.metric("Customers selected", f"{len(selection):,}")
    table = segment_table(selection, by)
    table_of(table, key="segments_table")
    st.altair_chart(_bars(table, by, "revenue_at_risk_usd", "Revenue at risk (USD)", "N"), width="stretch")


def customer_360() -> None:
    published = header("Customer 360")
    top = data.ask(published, "top_at_risk", 1, None, None)["rows"]
    typed = st.text_input("Customer id", value=top[0]["customer_id"] if top else "", key="customer_id")
    try:
        customer = parameters.customer_id(typed.strip(), "customer id")
        answer = data.ask(published, "customer_profile", customer)
    except ValueError as exc:
        st.warning(str(exc))
        return
    profile = answer["rows"][0]
    _profile_metrics(profile)
    _customer_history(published, customer, answer)
    with st.expander("Every field of the 360 (no personal data)"):
        st.dataframe(
            pd.DataFrame({"field": list(profile), "value": [str(v) for v in profile.values()]}), hide_index=True
        )


def _profile_metrics(profile: dict[str, Any]) -> None:
    first = st.columns(4)
    first[0].metric(
        "Churn probability", "n/a" if profile["churn_probability"] is None else f"{profile['churn_probability']:.0%}"
    )
    first[1].metric("Risk level", profile["churn_risk_level"] or "unscored")
    first[2].metric("Predicted CLV", shown(profile["predicted_clv_usd"], "usd"))
    first[3].metric("Revenue at risk", shown(profile["revenue_at_risk_usd"], "usd"))
    st.markdown(f"**Reasons:** {profile['churn_reasons'] or 'none'}")
    second = st.columns(4)
    second[0].metric("Lifecycle", profile["lifecycle_stage"])
    second[1].metric("RFM segment", profile["rfm_segment"])
    second[2].metric("Value tier", profile["value_tier"])
    second[3].metric("Lifetime revenue", shown(profile["historical_clv_usd"], "usd"))
    st.caption(
        f"Signed up {profile['signup_date']} ({profile['age_band']}, {profile['region']}); plan "
        f"{profile['plan_tier']}, loyalty {profile['loyalty_tier']}; {_count(profile['frequency'], 'purchase')}, "
        f"last {profile['last_purchase_date'] or 'never'}; {_count(profile['sessions_30d'], 'session')} in 30 days, "
        f"{profile['sessions_90d']} in 90; {_count(profile['tickets_90d'], 'ticket')} in 90 days."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _customer_history(published: data.Version, customer: str, answer: dict[str, Any]) -> None:
    months = pd.DataFrame(answer["monthly_activity"])
    tickets = data.frame(
        published,
        "SELECT opened_date, root_cause, status, csat_score, resolution_speed FROM marts.mart_ticket_analytics "
        "WHERE customer_id = ? ORDER BY opened_date DESC",
        (customer,),
    )
    scores = pd.DataFrame(answer["score_history"])
    if months.empty:
        st.caption("No purchase, session or ticket yet.")
    else:
        left, right = st.columns(2)
        left.altair_chart(
            _bars(months, "month_start", "net_revenue_usd", "Net revenue by month (USD)"), width="stretch"
        )
        right.altair_chart(_bars(months, "month_start", "sessions", "Sessions by month"), width="stretch")
    left, right = st.columns(2)
    if not months.empty:
        left.altair_chart(_bars(months, "month_start", "tickets_opened", "Tickets opened by month"), width="stretch")
    if scores.empty:
        right.caption("No churn score yet.")
    else:
        right.altair_chart(
            _line(scores, "as_of_date", "churn_probability", "Churn probability by scored day", points=True),
            width="stretch",
        )
    with st.expander(f"Activity by month ({len(months)} months)"):
        table_of(months.iloc[::-1])
    st.subheader(f"Support tickets ({len(tickets)})")
    table_of(tickets)


def churn_risk() -> None:
    published = header("Churn risk")
    if data.ask(published, "about")["churn_model_version"] is None:
        st.info("No churn model is live: train one (`churnmesh train`) and promote it (`churnmesh model use`).")
        return
    n = st.slider("Customers", 10, 200, 20, step=10, key="risk_n")
    ranked = data.rows(data.ask(published, "top_at_risk", n, None, None))
    st.subheader("Open customers by revenue at risk")
    table_of(ranked, key="risk_table")
    moved = data.frame(
        published,
        "SELECT customer_id, previous_level, churn_probability, previous_probability, primary_churn_reason "
        "FROM marts.mart_churn_risk_transitions WHERE churn_risk_level = 'high' "
        "AND as_of_date = (SELECT max(as_of_date) FROM scoring.churn_scores) ORDER BY churn_probability DESC",
    )
    st.subheader(f"Moved into high risk since the previous scored day ({len(moved)})")
    table_of(moved)
    _model_card(data.ask(published, "model_card")["rows"][0]["card"])


def _model_card(card: dict[str, Any]) -> None:
    st.subheader(f"Model card: {card['version']}")
    test, baseline = card["test"], card["baseline"]
    figures = st.columns(4)
    figures[0].metric("ROC-AUC", f"{test['roc_auc']:.3f}", f"{test['roc_auc'] - baseline['roc_auc']:+.3f} vs rules")
    figures[1].metric("PR-AUC", f"{test['pr_auc']:.3f}", f"{test['pr_auc'] - baseline['pr_auc']:+.3f} vs rules")
    figures[2].metric("Brier", f"{test['brier']:.4f}")
    figures[3].metric("Calibration error", f"{test['expected_calibration_error']:.4f}")
    st.caption(f"Measured on the test window as of {card['data_window']['test_as_of']}, which nothing was fitted on.")
    calibration = pd.DataFrame(test["calibration"])
    diagonal = alt.Chart(pd.DataFrame({"p": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="gray")
    points = (
        alt.Chart(calibration, title="Calibration: observed churn rate by predicted probability")
        .mark_line(point=True)
        .encode(
            x=alt.X("mean_predicted:Q", title="mean predicted"),
            y=alt.Y("observed_rate:Q", title="observed"),
            tooltip=["bin", "customers", "mean_predicted", "observed_rate"],
        )
    )
    lift = pd.concat(
        [
            pd.DataFrame(test["lift_by_decile"]).assign(score="model"),
            pd.DataFrame(baseline["lift_by_decile"]).assign(score="rules"),
        ]
    )
    bars = (
        alt.Chart(lift, title="Lift by decile (1 = highest scores)")
        .mark_bar()
        .encode(
            x=alt.X("decile:O"),
            xOffset="score:N",
            y=alt.Y("lift:Q"),
            color="score:N",
            tooltip=["score", "decile", "lift"],
        )
    )
    left, right = st.columns(2)
    left.altair_chart(diagonal.encode(x="p:Q", y="p:Q") + points, width="stretch")
    right.altair_chart(bars, width="stretch")


def cohorts() -> None:
    published = header("Cohorts")
    curves = data.frame(
        published,
        "SELECT cohort_month, months_since_acquisition, retention_rate, cohort_customers "
        "FROM marts.mart_retention_cohorts ORDER BY 1, 2",
    )
    heatmap = (
        alt.Chart(curves, title="Retention by signup month")
        .mark_rect()
        .encode(
            x=alt.X("months_since_acquisition:O", title="months since signup"),
            y=alt.Y("yearmonth(cohort_month):O", title="cohort"),
            color=alt.Color("retention_rate:Q", scale=alt.Scale(scheme="blues")),
            tooltip=["cohort_month", "months_since_acquisition", "retention_rate", "cohort_customers"],
        )
    )
    st.altair_chart(heatmap, width="stretch")
    months = sorted(curves.cohort_month.astype(str).unique())
    picked = st.multiselect(
        "Cohorts to compare", months, default=months[:: max(1, len(months) // 4)], key="cohort_pick"
    )
    lines = curves[curves.cohort_month.astype(str).isin(picked)].assign(cohort=lambda f: f.cohort_month.astype(str))
    st.altair_chart(
        alt.Chart(lines, title="Retention curves")
        .mark_line(point=True)
        .encode(x="months_since_acquisition:Q", y="retention_rate:Q", color="cohort:N"),
        width="stretch",
    )
    by_cohort = data.frame(
        published,
        "SELECT date_trunc('month', signup_date) AS cohort_month, count(*) AS customers, "
        "avg(historical_clv_usd) AS mean_historical_clv_usd, avg(predicted_clv_usd) AS mean_predicted_clv_usd "
        "FROM marts.mart_clv WHERE signup_date >= (SELECT min(cohort_month) FROM marts.mart_retention_cohorts) "
        "GROUP BY 1 ORDER BY 1",
    )
    left, right = st.columns(2)
    left.altair_chart(
        _bars(by_cohort, "cohort_month", "mean_predicted_clv_usd", "Mean predicted CLV by cohort"), width="stretch"
    )
    categories = data.frame(published, "SELECT * FROM marts.mart_category_ltv ORDER BY avg_ltv_usd DESC")
    right.altair_chart(
        _bars(categories, "favourite_category", "avg_ltv_usd", "Mean LTV by favourite category", "N"), width="stretch"
    )


def support() -> None:
    published = header("Support")
    months = data.frame(
        published,
        "SELECT DISTINCT strftime(period_start, '%Y-%m') AS month FROM marts.mart_top_root_causes "
        "WHERE period_type = 'month' ORDER BY 1 DESC",
    ).month.tolist()
    period = st.selectbox("Period", ["last_month", "last_quarter", *months], key="support_period")
    categories = data.frame(published, "SELECT DISTINCT product_category FROM marts.mart_top_root_causes ORDER BY 1")
    category = st.selectbox("Product category", ["all", *categories.product_category], key="support_category")
    try:
        causes = data.ask(published, "top_root_causes", period, 10, None if category == "all" else category)
    except ValueError as exc:
        st.warning(str(exc))
        return
    st.subheader(f"Top root causes, {causes['period_type']} starting {causes['period_start']}")
    table_of(data.rows(causes), key="support_table")
    versions = data.rows(data.ask(published, "app_version_impact", None))
    chart = (
        alt.Chart(versions, title="Tickets per 100 users by app version (spike: over twice the 3 versions before)")
        .mark_bar()
        .encode(
            x=alt.X("app_version:N", sort=None),
            y="tickets_per_100_users:Q",
            color=alt.Color("is_ticket_spike:N", scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#e45756"])),
            tooltip=["app_version", "users", "tickets", "tickets_per_100_users", "baseline_tickets_per_100_users"],
        )
    )
    st.altair_chart(chart, width="stretch")
    spikes = versions[versions.is_ticket_spike.fillna(False)]
    for _, spike in spikes.iterrows():
        st.warning(
            f"App version {spike.app_version}: {spike.tickets_per_100_users:.0f} tickets per 100 users against "
            f"{spike.baseline_tickets_per_100_users:.0f} for the versions before it; "
            f"{spike.churned_user_share:.0%} of its users have churned.",
            icon=":material/warning:",
        )


def campaign_simulator() -> None:
    published = header("Campaign simulator")
    customers = customers_frame(published)
    chosen = segment_filters(customers, "campaign", ("rfm_segment", "value_tier", "plan_tier", "region"))
    left, middle, right = st.columns(3)
    levels = left.multiselect("Risk levels", campaign.RISK_LEVELS, default=["high", "medium"], key="campaign_levels")
    floor = middle.number_input(
        "Predicted CLV at least (USD)", min_value=0.0, value=0.0, step=50.0, key="campaign_floor"
    )
    cost = right.number_input("Offer cost per customer (USD)", min_value=0.0, value=10.0, step=1.0, key="campaign_cost")
    rate = st.slider("Expected save rate", 0.0, 1.0, 0.2, step=0.01, key="campaign_rate")
    target = campaign.Target(chosen, tuple(levels), floor)
    picked = campaign.targeted(customers, target)
    outcome = campaign.simulate(picked, campaign.Offer(cost, rate))
    figures = st.columns(6)
    figures[0].metric("Customers targeted", f"{outcome.customers:,}")
    figures[1].metric("Revenue at risk", shown(outcome.revenue_at_risk_usd, "usd"))
    figures[2].metric("Expected saved", shown(outcome.expected_saved_usd, "usd"))
    figures[3].metric("Cost", shown(outcome.cost_usd, "usd"))
    figures[4].metric("Net value", shown(outcome.net_usd, "usd"))
    figures[5].metric("ROI", "n/a" if outcome.roi is None else f"{outcome.roi:.0%}")
    st.caption("Expected saved = churn probability x predicted CLV x save rate, over the targeted customers.")
    curve = campaign.save_rate_curve(picked, cost).melt("save_rate", var_name="figure", value_name="usd")
    st.altair_chart(
        alt.Chart(curve, title="How the campaign moves with the save rate")
        .mark_line()
        .encode(x=alt.X("save_rate:Q", axis=alt.Axis(format="%")), y="usd:Q", color="figure:N"),
        width="stretch",
    )
    table_of(picked.head(200), key="campaign_table")
    _export(published, picked)


def _export(published: data.Version, picked: pd.DataFrame) -> None:
    """The targeted customers through the consent-checked campaign export (privacy/export.py)."""
    if not st.button("Export the targeted customers (consent checked)", disabled=picked.empty, key="campaign_export"):
        return
    from churnmesh.privacy.export import export_customers
    from churnmesh.settings import data_paths

    paths = data_paths()
    as_of = data.ask(published, "about")["as_of_date"]
    out = paths.outputs / f"campaign_simulation_{as_of}.csv"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        result = export_customers(paths, tuple(picked.customer_id), "simulation", out)
    except (ValueError, OSError) as exc:
        st.error(f"Export failed: {exc}")
        return
    st.success(
        f"Exported {result.customers:,} customers to {result.path} "
        f"({result.without_consent:,} left out without marketing consent)."
    )
