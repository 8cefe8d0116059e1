"""The daily report: one self-contained HTML file per run, read from the publication.

Every figure comes from churnmesh.answers, the questions the dashboard and the MCP server ask, so
the three show one definition of each number. The file needs nothing but a browser: the plots are
inline SVG drawn here, the style sheet is inline, and there is no script and no URL, so it opens
offline and shows the same thing anywhere. Each key figure is written for people and carried
exactly in a data-value attribute. Text from the data is escaped. The time is the publication's
as-of date, never the clock, so the same publication gives the same file byte for byte.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from churnmesh import answers, publication
from churnmesh.settings import DataPaths, safe_run_name

# The overview figures, in order, with their labels (the KPI's description says what each is).
OVERVIEW = {
    "customers": "Customers",
    "active_customers": "Active customers",
    "churned_last_30_days": "Churned in the last 30 days",
    "churned_last_90_days": "Churned in the last 90 days",
    "total_revenue_usd": "Total revenue",
    "ltv_usd": "LTV (mean per customer)",
    "atv_usd": "ATV (mean purchase)",
    "predicted_clv_usd": "Predicted CLV (all customers)",
    "revenue_at_risk_usd": "Revenue at risk",
    "lost_to_churn_usd": "Value lost to churn",
    "mom_spend_change_pct": "Spend change on the month before",
}
TOP_AT_RISK = 10
TOP_CAUSES = 10
RETENTION_MARKS = (1, 3, 6, 12)
PALETTE = ("#1f6fb2", "#e07b39", "#3a9a5b", "#8e5bb5")
FLAGGED = "#c0392b"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.note { color: #666; font-size: 0.9rem; }
svg { display: block; margin: 0.5rem 0; }
svg text { font-family: system-ui, sans-serif; font-size: 11px; fill: #333; }
"""

Con = answers.Connection


class PublicationMismatch(ValueError):
    """The publication describes another day than the run the report is named for."""


def report_path(paths: DataPaths, as_of: date, run_name: str) -> Path:
    """Beside the run summary, named the same way (flows.summary_path)."""
    return paths.outputs / f"daily_report_{as_of.isoformat()}_{safe_run_name(run_name)}.html"


def write_report(paths: DataPaths, as_of: date, run_name: str) -> Path:
    """Write the day's report from the publication; a reader sees the previous file or this one, whole."""
    con = publication.open_published(paths)
    try:
        page = render(con, as_of, run_name)
    finally:
        con.close()
    target = report_path(paths, as_of, run_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    try:
        staging.write_text(page, encoding="utf-8")
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def render(con: Con, as_of: date, run_name: str) -> str:
    about = answers.about(con)
    if about["as_of_date"] != as_of.isoformat():
        raise PublicationMismatch(f"the publication describes {about['as_of_date']}, not {as_of}")
    title = f"churnmesh daily report, as of {about['as_of_date']}"
    body = [
        _header(title, about, run_name),
        _overview(con),
        _spend_by_month(con),
        _revenue_at_risk(con, "value_tier", "value tier"),
        _revenue_at_risk(con, "rfm_segment", "RFM segment"),
        _retention(con),
        _top_at_risk(con),
        _root_causes(con),
        _app_versions(con),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# Sections


def _header(title: str, about: dict[str, Any], run_name: str) -> str:
    model = about["churn_model_version"] or "none live (no churn probability, no revenue at risk)"
    facts = [
        ("as_of_date", "as of", about["as_of_date"]),
        ("data_watermark", "data watermark", about["data_watermark"]),
        ("churn_model_version", "churn model", model),
        ("run_name", "daily refresh run", run_name),
    ]
    items = "".join(f'<li>{label}: <span data-about="{key}">{_text(value)}</span></li>' for key, label, value in facts)
    return f'<h1>{_text(title)}</h1>\n<ul class="note">{items}</ul>'


def _overview(con: Con) -> str:
    rows = []
    for name, label in OVERVIEW.items():
        kpi = answers.KPIS[answers.KPI_NAMES.index(name)]
        value, month = _kpi_value(con, kpi)
        label += month
        cell = f'<td class="num" data-kpi="{name}" data-value="{_machine(value)}">{_formatted(value, kpi.unit)}</td>'
        rows.append(f'<tr><th>{_text(label)}</th>{cell}<td class="note">{_text(kpi.description)}</td></tr>')
    return "<h2>Overview</h2>\n<table>\n" + "\n".join(rows) + "\n</table>"


def _kpi_value(con: Con, kpi: answers.Kpi) -> tuple[float | int | None, str]:
    """A snapshot KPI over every customer, or a monthly one for the as-of month (then named in the label)."""
    try:
        row = answers.get_kpi(con, kpi.name)["rows"][0]
    except ValueError:  # a monthly KPI without spend in the as-of month
        return None, ""
    month = f" ({row['month'][:7]}{', partial month' if row['is_partial_month'] else ''})" if kpi.monthly else ""
    value = row["value"]
    return (int(value) if kpi.unit == "customers" and value is not None else value), month


def _spend_by_month(con: Con) -> str:
    rows = list(reversed(answers.get_kpi(con, "net_order_spend_usd", period="monthly")["rows"]))
    partial = [r["month"][:7] for r in rows if r["is_partial_month"]]
    note = f" {partial[-1]} is a partial month." if partial else ""
    chart = line_chart(
        "Net order spend by month",
        [r["month"][:7] for r in rows],
        {"net order spend": [r["value"] for r in rows]},
        _compact_usd,
    )
    return _section("Net order spend by month", chart, f"Purchases minus refunds per calendar month.{note}")


def _revenue_at_risk(con: Con, by: str, what: str) -> str:
    answer = answers.revenue_at_risk(con, by=by)
    rows = answer["rows"]
    chart = bar_chart(
        f"Revenue at risk by {what}", [str(r[by]) for r in rows], [r["revenue_at_risk_usd"] for r in rows], _usd
    )
    total = answer["total_revenue_at_risk_usd"]
    note = f"Churn probability x predicted CLV of the customers not yet churned; total {_usd(total)}."
    return _section(f"Revenue at risk by {what}", chart, note)


def _retention(con: Con) -> str:
    rows = answers.cohort_retention(con)["rows"]
    series = {f"after {m} month{'s' if m > 1 else ''}": [r[f"month_{m}"] for r in rows] for m in RETENTION_MARKS}
    chart = line_chart(
        "Retention by signup cohort", [r["cohort_month"][:7] for r in rows], series, _percent_of_one, (0.0, 1.0)
    )
    note = "Share of each signup-month cohort with revenue 1, 3, 6 and 12 months after signup."
    return _section("Retention by cohort", chart, note)


def _top_at_risk(con: Con) -> str:
    heading = f"Top {TOP_AT_RISK} customers by revenue at risk"
    try:
        rows = answers.top_at_risk(con, n=TOP_AT_RISK)["rows"]
    except ValueError as exc:  # no churn model is live
        return _section(heading, "", str(exc))
    head = "<tr><th>customer</th><th>risk level</th><th>churn probability</th><th>predicted CLV</th>"
    head += "<th>revenue at risk</th><th>reasons</th></tr>"
    body = [
        f'<tr data-customer="{_text(r["customer_id"])}"><td>{_text(r["customer_id"])}</td>'
        f'<td>{_text(r["churn_risk_level"])}</td><td class="num">{_or_none(r["churn_probability"], _probability)}</td>'
        f'<td class="num">{_usd(r["predicted_clv_usd"])}</td>'
        f'<td class="num" data-value="{_machine(r["revenue_at_risk_usd"])}">{_usd(r["revenue_at_risk_usd"])}</td>'
        f"<td>{_text(r['churn_reasons'])}</td></tr>"
        for r in rows
    ]
    table = "<table>\n" + head + "\n" + "\n".join(body) + "\n</table>"
    return _section(heading, table, "Open customers only: a churned customer's value is lost, not at risk.")


def _root_causes(con: Con) -> str:
    heading = "Top root causes of support tickets last month"
    try:
        answer = answers.top_root_causes(con, "last_month", n=TOP_CAUSES)
    except ValueError as exc:  # no tickets in the last complete month
        return _section(heading, "", str(exc))
    rows = answer["rows"]
    labels = [f"{r['root_cause']} / {r['product_category']}" for r in rows]
    chart = bar_chart(heading, labels, [r["tickets"] for r in rows], _count)
    note = f"Tickets opened in the month starting {answer['period_start']}, by root cause and product category."
    return _section(heading, chart, note)


def _app_versions(con: Con) -> str:
    heading = "Support tickets per 100 users by app version"
    try:
        rows = answers.app_version_impact(con)["rows"]
    except ValueError as exc:  # no app sessions yet
        return _section(heading, "", str(exc))
    spikes = [r["app_version"] for r in rows if r["is_ticket_spike"]]
    labels = [f"{r['app_version']}{' (spike)' if r['is_ticket_spike'] else ''}" for r in rows]
    flagged = {i for i, r in enumerate(rows) if r["is_ticket_spike"]}
    chart = bar_chart(heading, labels, [r["tickets_per_100_users"] for r in rows], _rate, flagged)
    spiked = ", ".join(spikes) if spikes else "none"
    note = f"A spike (red) is a rate above twice the mean of the three versions before it. Spikes: {spiked}."
    return _section(heading, chart, note)


def _section(heading: str, content: str, note: str) -> str:
    return f'<h2>{_text(heading)}</h2>\n<p class="note">{_text(note)}</p>\n{content}'


# Plots: hand-written SVG, deterministic, with every label escaped.


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    y_text: Callable[[float], str],
    y_range: tuple[float, float] | None = None,
) -> str:
    """One line per series over evenly spaced x labels; a missing value (None) draws no point."""
    width, height, left, right, top, bottom = 760, 300, 80, 45, 20, 60
    values = [v for vs in series.values() for v in vs if v is not None]
    low, high = y_range or (min([0.0, *values]), max([0.0, *values]))
    ticks = _ticks(low, high)
    scale_y = _scale(ticks[0], ticks[-1], height - bottom, top)
    step = (width - left - right) / max(len(x_labels) - 1, 1)
    parts = _y_axis(ticks, scale_y, left, width - right, y_text)
    every = max(1, math.ceil(len(x_labels) / 12))  # at most a dozen labels under the axis
    for i, label in enumerate(x_labels):
        if i % every == 0:
            x = left + i * step
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_text(label)}</text>')
    for n, (name, points) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{left + i * step:.1f},{scale_y(v):.1f}" for i, v in enumerate(points) if v is not None)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        if len(series) > 1:
            x = left + n * 150
            parts.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{x + 16}" y="{height - 12}">{_text(name)}</text>')
    return _svg(title, width, height, parts)


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    value_text: Callable[[float], str],
    flagged: set[int] | frozenset[int] = frozenset(),
) -> str:
    """Horizontal bars, one per label, each with its value written at its end; flagged bars in red."""
    width, left, right, row, top = 760, 220, 110, 24, 10
    height = top * 2 + row * max(len(labels), 1)
    largest = max([0.0, *(v or 0.0 for v in values)]) or 1.0
    parts = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row
        length = (width - left - right) * max(value or 0.0, 0.0) / largest
        flag = ' data-flagged="true"' if i in flagged else ""
        parts.append(
            f'<g data-label="{_text(label)}"{flag}>'
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{_text(label)}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{FLAGGED if flag else PALETTE[0]}" data-value="{_machine(value)}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 16}">{_text(_or_none(value, value_text))}</text></g>'
        )
    return _svg(title, width, height, parts)


def _svg(title: str, width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_text(title)}"><title>{_text(title)}</title>\n' + "\n".join(parts) + "\n</svg>"
    )


def _y_axis(
    ticks: list[float], scale_y: Callable[[float], float], x0: int, x1: int, y_text: Callable[[float], str]
) -> list[str]:
    parts = []
    for tick in ticks:
        y = scale_y(tick)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{_text(y_text(tick))}</text>')
    return parts


def _ticks(low: float, high: float) -> list[float]:
    """About five round tick values covering low to high."""
    span = (high - low) or abs(high) or 1.0
    magnitude = 10 ** math.floor(math.log10(span / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= span / 4)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [i * step for i in range(first, max(last, first + 1) + 1)]


def _scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    return lambda v: out_low + (v - low) * (out_high - out_low) / ((high - low) or 1.0)


# Numbers for people, and for machines


def _formatted(value: float | int | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return {"usd": _usd, "percent": _percent, "customers": _count}[unit](value)


def _usd(value: float) -> str:
    """Whole dollars from a thousand up, cents below."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if abs(value) >= 1000 else f"{sign}${abs(value):,.2f}"


def _compact_usd(value: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"${value / size:,.1f}".removesuffix(".0") + suffix
    return f"${value:,.0f}"


def _percent(value: float) -> str:
    return f"{value:+.2f}%"


def _percent_of_one(value: float) -> str:
    return f"{100 * value:.0f}%"


def _count(value: float) -> str:
    return f"{int(value):,}"


def _probability(value: float) -> str:
    return f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}"


def _or_none(value: float | None, text: Callable[[float], str]) -> str:
    return "n/a" if value is None else text(value)


def _machine(value: float | int | None) -> str:
    """The exact value for a data-value attribute: '' for none."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)
