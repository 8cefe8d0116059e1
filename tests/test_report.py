"""The daily HTML report: its figures equal the marts, and it opens offline with nothing to fetch."""

from __future__ import annotations

import shutil
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnmesh import publication, report
from churnmesh.settings import DataPaths
from tests.conftest import SCORED_AS_OF, Scored

RUN = "brave-otter"
PLOTS = {
    "Net order spend by month",
    "Revenue at risk by value tier",
    "Revenue at risk by RFM segment",
    "Retention by signup cohort",
    "Top root causes of support tickets last month",
    "Support tickets per 100 users by app version",
}
# Tags that load or run something: none may appear in a report that opens offline.
FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "image", "use", "base"}
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


class Parsed(HTMLParser):
    """What a test needs of the report: tags, URL attributes, figures, plots and text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.kpis: dict[str, str] = {}
        self.about: dict[str, str] = {}
        self.bars: dict[str, dict[str, str]] = {}
        self.customers: list[str] = []
        self.customer_values: list[str] = []
        self.text: list[str] = []
        self._svg: str | None = None
        self._bar: str | None = None
        self._about: str | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.add(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]
        if "data-kpi" in found:
            self.kpis[found["data-kpi"] or ""] = found.get("data-value") or ""
        if tag == "svg":
            self._svg = found.get("aria-label") or ""
            self.bars[self._svg] = {}
        if tag == "g" and "data-label" in found:
            self._bar = found["data-label"]
        if tag == "rect" and self._svg and self._bar is not None:
            self.bars[self._svg][self._bar] = found.get("data-value") or ""
        if tag == "tr" and "data-customer" in found:
            self.customers.append(found["data-customer"] or "")
        if tag == "td" and self.customers and "data-value" in found and "data-kpi" not in found:
            self.customer_values.append(found["data-value"] or "")
        self._about = found.get("data-about")

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self._bar = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._about:
            self.about[self._about] = data
            self._about = None


def _publication_only(base: Scored, root: Path) -> DataPaths:
    """A data folder holding a copy of the publication alone: all the report reads."""
    paths = DataPaths(root / "data")
    target = publication.published_path(paths)
    target.parent.mkdir(parents=True)
    shutil.copy(publication.published_path(base.paths), target)
    return paths


@pytest.fixture(scope="module")
def written(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> tuple[DataPaths, Path]:
    paths = _publication_only(scored_base, tmp_path_factory.mktemp("report"))
    return paths, report.write_report(paths, SCORED_AS_OF, RUN)


def _marts(base: Scored) -> dict[str, pd.DataFrame]:
    """The marts and metrics the figures come from, read from the warehouse itself (not the publication)."""
    con = duckdb.connect(str(base.paths.warehouse), read_only=True)
    try:
        return {
            "c360": con.sql("FROM marts.mart_customer_360").df(),
            "clv": con.sql("FROM marts.mart_clv").df(),
            "risk": con.execute("FROM marts.mart_churn_risk WHERE as_of_date = ?", [SCORED_AS_OF]).df(),
            "atv": con.sql("FROM metrics.metric_avg_transaction_value").df(),
            "monthly": con.sql("FROM metrics.metric_mom_spend_change").df(),
        }
    finally:
        con.close()


def _expected_kpis(marts: dict[str, pd.DataFrame]) -> dict[str, float]:
    c360, clv, risk, atv, monthly = (marts[k] for k in ("c360", "clv", "risk", "atv", "monthly"))
    churned = c360[c360["lifecycle_stage"] == "churned"]
    as_of = pd.Timestamp(SCORED_AS_OF)
    month = monthly[pd.to_datetime(monthly["month_start"]) == as_of.replace(day=1)]
    prior = month["prior_month_spend_usd"].sum()
    return {
        "customers": len(clv),
        "active_customers": int((c360["lifecycle_stage"] == "active").sum()),
        "churned_last_30_days": int((pd.to_datetime(churned["churned_date"]) > as_of - timedelta(days=30)).sum()),
        "churned_last_90_days": int((pd.to_datetime(churned["churned_date"]) > as_of - timedelta(days=90)).sum()),
        "total_revenue_usd": clv["historical_clv_usd"].sum(),
        "ltv_usd": clv["historical_clv_usd"].mean(),
        "atv_usd": (atv["mean_usd"] * atv["purchases"]).sum() / atv["purchases"].sum(),
        "predicted_clv_usd": clv["predicted_clv_usd"].sum(),
        "revenue_at_risk_usd": risk["revenue_at_risk_usd"].sum(),
        "lost_to_churn_usd": risk["lost_clv_usd"].sum(),
        "mom_spend_change_pct": 100 * (month["spend_usd"].sum() - prior) / prior,
    }


def test_every_figure_of_the_report_equals_the_marts(scored_base: Scored, written: tuple[DataPaths, Path]) -> None:
    paths, path = written
    assert path == paths.outputs / f"daily_report_{SCORED_AS_OF}_{RUN}.html"
    parsed = Parsed(path.read_text(encoding="utf-8"))
    marts = _marts(scored_base)
    expected = _expected_kpis(marts)
    assert set(parsed.kpis) == set(expected)
    for name, value in expected.items():
        # reported to the cent (and hundredth of a percent): equal once rounded as the report rounds
        assert float(parsed.kpis[name]) == pytest.approx(round(float(value), 2), abs=1e-9), name
    assert parsed.about["as_of_date"] == SCORED_AS_OF.isoformat()
    assert parsed.about["churn_model_version"] == scored_base.trained.version
    by_tier = marts["c360"].groupby("value_tier")["revenue_at_risk_usd"].sum().round(2)
    shown = {label: float(v) for label, v in parsed.bars["Revenue at risk by value tier"].items()}
    assert shown == pytest.approx(by_tier.to_dict(), abs=1e-9)
    open_customers = marts["risk"][marts["risk"]["lifecycle_stage"] != "churned"]
    top = open_customers.sort_values(["revenue_at_risk_usd", "customer_id"], ascending=[False, True]).head(10)
    assert parsed.customers == top["customer_id"].tolist()
    assert [float(v) for v in parsed.customer_values] == pytest.approx(top["revenue_at_risk_usd"].tolist(), abs=1e-9)


def test_the_report_opens_offline_with_every_plot_inline(written: tuple[DataPaths, Path]) -> None:
    paths, path = written
    page = path.read_text(encoding="utf-8")
    parsed = Parsed(page)
    assert not parsed.tags & FETCHING_TAGS
    assert parsed.links == []
    for fetch in ("http://", "https://", "url(", "@import", 'src="//', 'href="//'):
        assert fetch not in page
    assert {title for title in parsed.bars} == PLOTS, "each plot is an inline <svg>"
    assert all(parsed.bars[title] for title in PLOTS - {"Net order spend by month", "Retention by signup cohort"})
    assert not list(paths.outputs.glob("*.tmp")), "written to a temporary file and renamed"
    assert report.write_report(paths, SCORED_AS_OF, RUN).read_text(encoding="utf-8") == page, "deterministic"
    with pytest.raises(report.PublicationMismatch, match=str(SCORED_AS_OF)):
        report.write_report(paths, SCORED_AS_OF + timedelta(days=1), RUN)


def test_text_from_the_data_is_escaped(scored_base: Scored, tmp_path: Path) -> None:
    paths = _publication_only(scored_base, tmp_path)
    con = duckdb.connect(str(publication.published_path(paths)))
    try:
        con.execute("UPDATE marts.mart_customer_360 SET churn_reasons = ?", [HOSTILE])
        con.execute("UPDATE marts.mart_app_version_impact SET app_version = app_version || ?", [HOSTILE])
    finally:
        con.close()
    parsed = Parsed(report.write_report(paths, SCORED_AS_OF, RUN).read_text(encoding="utf-8"))
    assert not parsed.tags & FETCHING_TAGS and parsed.links == []
    assert HOSTILE in parsed.text, "shown as text, not markup"
    assert any(HOSTILE in label for label in parsed.bars["Support tickets per 100 users by app version"])
