"""The daily refresh's run summary (a Markdown artifact and a file under outputs/)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from churnmesh.revenue_at_risk import risk_totals, totals_lines


def top_at_risk(con: duckdb.DuckDBPyConnection, as_of: date, limit: int) -> list[dict[str, object]]:
    rows = con.execute(
        """
        SELECT customer_id, churn_risk_level, round(churn_probability, 3), round(predicted_clv_usd, 2),
               round(revenue_at_risk_usd, 2), churn_reasons
        FROM marts.mart_churn_risk
        WHERE as_of_date = ? AND revenue_at_risk_usd > 0  -- 0 for churned customers (macros/risk.py)
        ORDER BY revenue_at_risk_usd DESC, customer_id
        LIMIT ?
        """,
        [as_of, limit],
    ).fetchall()
    keys = ("customer_id", "level", "churn_probability", "predicted_clv_usd", "revenue_at_risk_usd", "reasons")
    return [dict(zip(keys, (float(v) if isinstance(v, float) else v for v in row), strict=True)) for row in rows]


def _levels(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple]:
    return con.execute(
        """
        SELECT coalesce(churn_risk_level, 'unscored'), count(*),
               coalesce(sum(CAST(revenue_at_risk_usd AS DECIMAL(18, 2))), 0)
        FROM marts.mart_churn_risk
        WHERE as_of_date = ? AND lifecycle_stage <> 'churned'  -- the churned are lost, counted apart
        GROUP BY 1 ORDER BY 1
        """,
        [as_of],
    ).fetchall()


def _report_link(html_report: object) -> list[str]:
    """A link relative to the summary: the report is written beside it, in outputs/."""
    if not html_report:
        return []
    name = Path(str(html_report)).name
    return [f"- daily report: [{name}]({name})"]


def _data_quality_lines(as_of: date, run: dict) -> list[str]:
    """The files of this run that loaded nothing, and the state the marts are published with."""
    ingestion, quality = run["ingestion"], run.get("data_quality") or {}
    lines = [
        *(f"- rejected whole: {f['file']}: {f['reason']}" for f in ingestion.get("rejected_whole", [])),
        *(f"- refused: {f['file']}: {f['reason']}" for f in ingestion.get("refused", [])),
        "",
        "## Data quality",
    ]
    state = quality.get("state", "unknown")
    findings = quality.get("findings", [])
    if findings:
        files = sorted({str(f["file"]) for f in findings})
        lines.append(
            f"- the marts as of {as_of} are published flagged **{state}**: field health fails for {', '.join(files)}"
        )
        lines += [f"  - {f['file']}: {f['description']}" for f in findings]
    else:
        lines.append(f"- the marts as of {as_of} are published **{state}**: no file of the days recomputed fails")
    return [*lines, ""]


def run_summary_markdown(con: duckdb.DuckDBPyConnection, as_of: date, run: dict) -> str:
    ingestion, refresh, delivery = run["ingestion"], run["refresh"], run["delivery"]
    lines = [
        f"# Daily refresh for {as_of}",
        "",
        f"- run: {run.get('run_name', 'run')}",
        f"- {run.get('watermark', 'data watermark unknown')}",
        *(f"- **stale**: {reason}" for reason in run.get("stale") or []),
        *_report_link(run.get("html_report")),
        "",
        "## Ingestion",
        f"- files: {ingestion['files_loaded']} loaded, {ingestion['files_rejected']} rejected whole, "
        f"{ingestion['files_skipped']} re-deliveries skipped, {len(ingestion['files_refused'])} refused",
        f"- rows: {ingestion['rows_in']:,} in = {ingestion['rows_loaded']:,} loaded + "
        f"{ingestion['rows_quarantined']:,} quarantined + {ingestion['rows_duplicate']:,} duplicates",
        *_data_quality_lines(as_of, run),
        "## Warehouse",
        f"- sqlmesh run: {refresh['status']}; {len(refresh['evaluations'])} model batches evaluated "
        "(each in the sqlmesh-evaluations artifact); blocking audits: "
        + ("all passed" if not refresh["failures"] else f"{len(refresh['failures'])} failed"),
        *[
            f"- restated {', '.join(r['models'])} from {r['start']} to {r['end']}: changes behind the lookback"
            for r in refresh.get("restated", [])
        ],
        "",
        "## Customers by churn risk level (not yet churned)",
        "| level | customers | revenue at risk |",
        "|---|---|---|",
    ]
    lines += [f"| {level} | {n:,} | ${float(r):,.0f} |" for level, n, r in _levels(con, as_of)]
    lines += ["", *(f"- {line}" for line in totals_lines(risk_totals(con, as_of)))]
    lines += ["", "## Alerts"]
    lines += [f"- {title}" for title in run["alerts"]] or ["- none"]
    lines += [
        f"- delivery: {len(delivery['delivered'])} delivered, {len(delivery['already_sent'])} already sent "
        f"earlier, {len(delivery['undelivered'])} undelivered",
        "",
        "## Top 20 customers by revenue at risk",
        "| customer | level | probability | predicted CLV | revenue at risk | reasons |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['customer_id']} | {r['level']} | {r['churn_probability']:.3f} | ${r['predicted_clv_usd']:,.0f} "
        f"| ${r['revenue_at_risk_usd']:,.0f} | {r['reasons']} |"
        for r in top_at_risk(con, as_of, 20)
    ]
    return "\n".join(lines) + "\n"
