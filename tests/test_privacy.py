"""Personal data: classified once, kept out of the marts by a blocking audit, and joined back to
customers only by the campaign export, for those who consent to marketing on the export date."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlglot import exp
from sqlmesh.core.model import Model

from churnmesh.cli import main
from churnmesh.contracts import EMAIL, SOURCES, SOURCES_BY_NAME, Pii, pii_columns, pii_kept_out_of_marts
from churnmesh.ingestion import ingest
from churnmesh.orchestration.refresh import FailureCollector
from churnmesh.parameters import InvalidParameter
from churnmesh.privacy.export import (
    CAMPAIGNS,
    EXPORT_COLUMNS,
    FORMULA_PREFIXES,
    RFM_SEGMENTS,
    export_campaign,
    spreadsheet_safe,
    write_csv_atomically,
)
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import Context, copy_project, execution_time, sqlmesh_context
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import query

BI_SCHEMAS = ("marts", "metrics", "scoring")  # what BI tools may read, and SQLMesh's tables behind them
RETENTION = "retention"


AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")


@pytest.fixture(scope="module")
def project_models() -> dict[str, Model]:
    """The project's models as SQLMesh loads them (no warehouse needed)."""
    context = Context(paths=str(PROJECT_ROOT))
    try:
        return {m.name: m for m in context.models.values()}
    finally:
        context.close()


# --- the classification ----------------------------------------------------------------------


def test_names_contact_details_birth_dates_and_finances_are_kept_out_of_marts() -> None:
    assert set(pii_kept_out_of_marts()) == {
        "first_name",
        "last_name",
        "email",
        "date_of_birth",
        "income_usd",
        "credit_score",
    }
    classes = pii_columns()
    assert classes["email"] is Pii.CONTACT and classes["date_of_birth"] is Pii.QUASI_IDENTIFIER
    assert {classes[c] for c in ("gender", "city", "country")} == {Pii.DEMOGRAPHIC}
    for source in SOURCES:  # the surrogate key is a pseudonym wherever it appears
        (key,) = [c for c in source.columns if c.name == "customer_id"]
        assert key.pii is Pii.PSEUDONYM and key.pii.allowed_in_marts


def test_every_mart_and_metric_model_carries_the_pii_audit(project_models: dict[str, Model]) -> None:
    models = [m for name, m in project_models.items() if name.split(".")[-2] in ("marts", "metrics")]
    missing = [m.name for m in models if "no_pii_columns" not in {name for name, _ in m.audits}]
    assert len(models) >= 15 and missing == []


def test_age_bands_count_whole_years_on_the_as_of_date(project_models: dict[str, Model]) -> None:
    query_360 = project_models["marts.mart_customer_360"].render_query(execution_time="2025-08-01")
    (band,) = [p.this for p in query_360.selects if p.alias_or_name == "age_band"]
    renamed = {"date_of_birth": "born", "as_of_date": "as_of"}
    band = band.transform(lambda n: exp.column(renamed[n.name]) if isinstance(n, exp.Column) else n)
    cases = [
        ("2007-06-15", "2025-06-14", "under 18"),  # the day before the 18th birthday
        ("2007-06-15", "2025-06-15", "18-24"),
        ("2000-02-29", "2025-02-28", "18-24"),  # a 29 February birthday counts from 1 March
        ("2000-02-29", "2025-03-01", "25-34"),
        ("1960-07-01", "2025-06-30", "55-64"),
        ("1960-07-01", "2025-07-01", "65+"),
        (None, "2025-07-01", "unknown"),
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE people (born DATE, as_of DATE)")
    con.executemany("INSERT INTO people VALUES (?, ?)", [c[:2] for c in cases])
    bands = con.execute(f"SELECT {band.sql(dialect='duckdb')} FROM people").fetchall()
    assert [b for (b,) in bands] == [c[2] for c in cases]


# --- the export's checks, without a warehouse ------------------------------------------------


def test_cells_a_spreadsheet_would_evaluate_get_a_leading_apostrophe() -> None:
    for prefix in FORMULA_PREFIXES:
        assert spreadsheet_safe(f"{prefix}1+1") == f"'{prefix}1+1"
    assert spreadsheet_safe("O'Brien") == "O'Brien" and spreadsheet_safe("a=b") == "a=b"
    assert spreadsheet_safe(None) == "" and spreadsheet_safe(42) == "42" and spreadsheet_safe(True) == "True"
    assert spreadsheet_safe(-3) == "'-3"


def test_the_known_segments_are_the_marts_own() -> None:
    segments_sql = (PROJECT_ROOT / "models" / "marts" / "mart_customer_segments.sql").read_text()
    accepted = re.search(r"accepted_values\(column := rfm_segment, is_in := \(([^)]*)\)\)", segments_sql)
    assert accepted and set(re.findall(r"'([a-z_]+)'", accepted.group(1))) == set(RFM_SEGMENTS)
    customer_360 = (PROJECT_ROOT / "models" / "marts" / "mart_customer_360.sql").read_text()
    assert all(f"AS {flag}" in customer_360 for flag in CAMPAIGNS.values())


@pytest.mark.parametrize("bad", ["vip", "Retention", "retention' OR 1=1 --", "", "champions\x00"])
def test_an_unknown_segment_is_refused_with_the_known_ones(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "campaign.csv"
    with pytest.raises(InvalidParameter, match="unknown segment"):
        export_campaign(DataPaths(tmp_path / "data"), bad, out)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "campaign", "--segment", bad, "--out", str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unknown segment" in error and "retention, onboarding, premium" in error and "champions" in error
    assert not out.exists()


def test_a_failed_write_leaves_the_previous_export_whole(tmp_path: Path) -> None:
    out = tmp_path / "campaign.csv"
    out.write_text("previous export\n")

    def rows() -> Iterator[list[str]]:
        yield ["C0000001", "Ann"]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_csv_atomically(out, ["customer_id", "first_name"], rows())
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["campaign.csv"]  # no temporary file left


def test_the_written_csv_is_every_row_as_text_readable_by_its_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "campaign.csv"
    out.write_text("previous export\n")
    write_csv_atomically(
        out, ["customer_id", "name", "value"], [["C0000001", 'Zoë, "the" first', 1.5], ["C2", None, -3]]
    )
    assert out.read_bytes().decode("utf-8") == (
        'customer_id,name,value\r\nC0000001,"Zoë, ""the"" first",1.5\r\nC2,,\'-3\r\n'
    )
    assert out.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["campaign.csv"]


# --- the built warehouse ---------------------------------------------------------------------


def test_no_mart_carries_personal_data(scored_base: Scored) -> None:
    warehouse = scored_base.paths.warehouse
    blocked = list(pii_kept_out_of_marts())
    schemas = [*BI_SCHEMAS, *(f"sqlmesh__{s}" for s in BI_SCHEMAS)]
    exposed = query(
        warehouse,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN (SELECT unnest($schemas)) AND lower(column_name) IN (SELECT unnest($blocked))",
        {"schemas": schemas, "blocked": blocked},
    )
    assert exposed == []
    # The same names do reach the layers before the marts: the check looks for the right names.
    upstream = query(
        warehouse,
        "SELECT DISTINCT lower(column_name) FROM information_schema.columns "
        "WHERE table_schema IN ('raw', 'staging', 'core') AND lower(column_name) IN (SELECT unnest($blocked))",
        {"blocked": blocked},
    )
    assert {r[0] for r in upstream} == set(blocked)
    assert _text_cells_that_look_like_emails(warehouse) == []


def _text_cells_that_look_like_emails(warehouse: Path) -> list[tuple[str, str, int]]:
    """A renamed email column would pass a check on names; its values would not pass this one."""
    columns = query(
        warehouse,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN (SELECT unnest($schemas)) AND data_type = 'VARCHAR'",
        {"schemas": list(BI_SCHEMAS)},
    )
    found = []
    pattern = EMAIL.removesuffix(r"\Z")
    for schema, table, column in columns:
        (count,) = query(
            warehouse,
            f'SELECT count(*) FROM "{schema}"."{table}" WHERE regexp_matches("{column}", $pattern)',
            {"pattern": pattern},
        )[0]
        if count:
            found.append((f"{schema}.{table}", column, count))
    return found


def test_customer_360_has_the_age_band_of_each_customer_on_the_as_of_date(scored_base: Scored) -> None:
    rows = query(
        scored_base.paths.warehouse,
        "SELECT m.customer_id, m.as_of_date, d.date_of_birth, m.age_band FROM marts.mart_customer_360 AS m "
        "JOIN core.dim_customers AS d ON m.customer_id = d.customer_id AND d.is_current",
    )

    def band(born: date | None, as_of: date) -> str:
        if born is None:
            return "unknown"
        age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        return AGE_BANDS[sum(age >= b for b in (18, 25, 35, 45, 55, 65))]

    assert rows and all(r[3] == band(r[2], r[1]) for r in rows)
    assert len({r[3] for r in rows}) >= 4


def test_a_mart_exposing_email_fails_the_build_and_names_the_audit(scored_base: Scored, tmp_path: Path) -> None:
    scored = scored_copy(scored_base, tmp_path)
    project = copy_project(tmp_path / "project")
    mart = project / "models" / "marts" / "mart_customer_360.sql"
    sql = mart.read_text()
    sql = sql.replace("    city = 'City',", "    email = 'Email address',\n    city = 'City',", 1)
    sql = sql.replace("  f.city,", "  d.email,\n  f.city,", 1)
    mart.write_text(sql)
    collector = FailureCollector()
    with (
        sqlmesh_context(scored.paths, project=project, notification_targets=[collector]) as context,
        pytest.raises(Exception, match="Plan application failed"),
    ):
        context.plan("prod", execution_time=execution_time(SCORED_AS_OF), no_prompts=True, auto_apply=True)
    failures = [f for f in collector.failures if "audit" in f]
    assert [(f["model"].replace('"', "").split(".")[-1], f["audit"]) for f in failures] == [
        ("mart_customer_360", "no_pii_columns")
    ]
    assert failures[0]["failing_rows"] == 1  # one offending column
    columns = query(
        scored.paths.warehouse,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'mart_customer_360'",
    )
    assert ("email",) not in columns and ("age_band",) in columns  # prod still serves the safe version


# --- the campaign export ---------------------------------------------------------------------

HOSTILE = {"first_name": '=HYPERLINK("http://attacker.example","open")', "last_name": "@SUM(1+1)"}
HOSTILE_EMAIL = "+1-2@example.com"  # valid by the contract, and a formula to a spreadsheet


def _profiles(warehouse: Path) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        frame = con.execute("SELECT * FROM raw.customers").df()
    finally:
        con.close()
    frame["file_date"] = pd.to_datetime(frame["_source_file"].str.extract(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")[0])
    return frame


def _latest(profiles: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The profile version in force on `as_of`, computed here independently of the export's SQL."""
    known = profiles[profiles["file_date"] <= pd.Timestamp(as_of)]
    ordered = known.sort_values(["customer_id", "file_date", "updated_at", "_source_file", "_row_number"])
    return ordered.groupby("customer_id").tail(1).set_index("customer_id")


def _write_versions(landing: Path, day: date, versions: list[dict[str, object]]) -> None:
    """A hand-delivered customers file, in the contract's columns, ingested like any other."""
    columns = SOURCES_BY_NAME["customers"].columns
    path = landing / "customers" / f"{day.isoformat()}-update.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow([c.name for c in columns])
        for version in versions:
            writer.writerow([_text(version[c.name], c.kind) for c in columns])


def _text(value: object, kind: str) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if kind in ("date", "datetime"):
        return pd.Timestamp(value).strftime("%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M:%S")
    return str(value).lower() if kind == "bool" else str(value)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def export_case(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A copy of the scored warehouse where four retention customers change their profile:
    one opts out before the export date, one after it, one opts out before and back in after,
    and one (opted in) now has a name and an email a spreadsheet would run as formulas."""
    scored = scored_copy(scored_base, tmp_path_factory.mktemp("export"))
    members = {
        r[0]
        for r in query(
            scored.paths.warehouse, f"SELECT customer_id FROM marts.mart_customer_360 WHERE {CAMPAIGNS[RETENTION]}"
        )
    }
    before, after = SCORED_AS_OF - timedelta(days=6), SCORED_AS_OF + timedelta(days=1)
    latest = _latest(_profiles(scored.paths.warehouse), after + timedelta(days=1))
    quiet = latest[
        latest.index.isin(members) & (latest["file_date"] < pd.Timestamp(before)) & latest["marketing_opt_in"]
    ]
    opt_out_before, opt_out_after, back_in, hostile = sorted(quiet.index)[:4]

    def version(customer_id: str, day: date, **changes: object) -> dict[str, object]:
        row = latest.loc[customer_id].to_dict() | {"customer_id": customer_id}
        return row | {"updated_at": pd.Timestamp(day) + pd.Timedelta(hours=9)} | changes

    _write_versions(
        scored.paths.landing,
        before,
        [
            version(opt_out_before, before, marketing_opt_in=False),
            version(back_in, before, marketing_opt_in=False),
            version(hostile, before, email=HOSTILE_EMAIL, **HOSTILE),
        ],
    )
    _write_versions(
        scored.paths.landing,
        after,
        [version(opt_out_after, after, marketing_opt_in=False), version(back_in, after, marketing_opt_in=True)],
    )
    report = ingest(scored.paths.landing, scored.paths.warehouse)
    assert report.total("rows_loaded") == 5 and report.total("rows_rejected") == 0
    return {
        "scored": scored,
        "members": members,
        "opt_out_before": opt_out_before,
        "opt_out_after": opt_out_after,
        "back_in": back_in,
        "hostile": hostile,
    }


def test_the_export_holds_the_segments_customers_with_consent_on_the_export_date(
    export_case: dict[str, object], tmp_path: Path
) -> None:
    scored: Scored = export_case["scored"]
    on_date, next_day = tmp_path / "on_as_of.csv", tmp_path / "next_day.csv"
    first = export_campaign(scored.paths, RETENTION, on_date)  # default: the marts' as-of date
    second = export_campaign(scored.paths, RETENTION, next_day, SCORED_AS_OF + timedelta(days=1))
    assert (first.as_of, first.marts_as_of, second.as_of) == (SCORED_AS_OF, SCORED_AS_OF, SCORED_AS_OF + timedelta(1))
    profiles = _profiles(scored.paths.warehouse)
    for result in (first, second):
        rows = _read(result.path)
        exported = {r["customer_id"] for r in rows}
        consenting = _latest(profiles, result.as_of)
        expected = {c for c in export_case["members"] if consenting.loc[c, "marketing_opt_in"]}
        assert exported == expected and result.customers == len(rows) == len(exported)
        assert result.without_consent == len(export_case["members"]) - len(expected) > 0
        assert all(r["segment"] == RETENTION for r in rows)
        for row in rows:  # contact details from the version in force on the export date
            version = consenting.loc[row["customer_id"]]
            assert [row[c] for c in ("first_name", "last_name", "email")] == [
                spreadsheet_safe(version[c]) for c in ("first_name", "last_name", "email")
            ]
        assert result.path.stat().st_mode & 0o777 == 0o600  # contact details: the owner only
    exported_first = {r["customer_id"] for r in _read(on_date)}
    exported_second = {r["customer_id"] for r in _read(next_day)}
    assert export_case["opt_out_before"] not in exported_first | exported_second
    assert export_case["opt_out_after"] in exported_first and export_case["opt_out_after"] not in exported_second
    assert export_case["back_in"] not in exported_first and export_case["back_in"] in exported_second


def test_the_export_neutralises_formulas_in_every_cell(export_case: dict[str, object], tmp_path: Path) -> None:
    scored: Scored = export_case["scored"]
    out = tmp_path / "campaign.csv"
    export_campaign(scored.paths, RETENTION, out)
    with out.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert tuple(header) == EXPORT_COLUMNS
    (hostile,) = [dict(zip(header, r, strict=True)) for r in rows if r[0] == export_case["hostile"]]
    assert hostile["first_name"] == "'" + HOSTILE["first_name"]
    assert hostile["last_name"] == "'" + HOSTILE["last_name"]
    assert hostile["email"] == "'" + HOSTILE_EMAIL
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_PREFIXES)]


def test_the_export_carries_the_risk_behind_each_customer_highest_revenue_at_risk_first(
    export_case: dict[str, object], tmp_path: Path
) -> None:
    scored: Scored = export_case["scored"]
    out = tmp_path / "retention.csv"
    export_campaign(scored.paths, RETENTION, out)
    rows = _read(out)
    assert rows and tuple(rows[0]) == EXPORT_COLUMNS
    at_risk = [float(r["revenue_at_risk_usd"]) for r in rows]
    assert at_risk == sorted(at_risk, reverse=True)
    con = duckdb.connect(str(scored.paths.warehouse), read_only=True)
    try:
        mart = con.execute(
            "SELECT customer_id, churn_probability, churn_risk_level, primary_churn_reason, predicted_clv_usd, "
            "revenue_at_risk_usd FROM marts.mart_customer_360"
        ).df()
    finally:
        con.close()
    mart = mart.set_index("customer_id")
    for row in rows:  # the churn model's figures (it is live), as the mart has them
        expected = mart.loc[row["customer_id"]]
        assert row["risk_basis"] == "model" and row["risk_level"] == expected["churn_risk_level"]
        assert row["main_reason"] == spreadsheet_safe(expected["primary_churn_reason"])
        assert float(row["churn_probability"]) == pytest.approx(expected["churn_probability"], abs=5e-5)
        assert float(row["predicted_clv_usd"]) == pytest.approx(expected["predicted_clv_usd"], abs=0.005)
        assert float(row["revenue_at_risk_usd"]) == pytest.approx(expected["revenue_at_risk_usd"], abs=0.005)


def test_the_export_reads_the_warehouse_read_only_and_through_the_cli(
    export_case: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scored: Scored = export_case["scored"]
    warehouse = scored.paths.warehouse
    digest = _digest(warehouse)
    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(scored.paths.root))
    out = tmp_path / "champions.csv"
    # DuckDB refuses, in one process, a read-write open of a file that is open read-only.
    reader = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert main(["export", "campaign", "--segment", "champions", "--out", str(out)]) == 0
    finally:
        reader.close()
    assert _digest(warehouse) == digest
    rows = _read(out)
    champions = {
        r[0]
        for r in query(warehouse, "SELECT customer_id FROM marts.mart_customer_360 WHERE rfm_segment = 'champions'")
    }
    assert rows and {r["customer_id"] for r in rows} <= champions
    assert f"{len(rows):,} customers of champions" in capsys.readouterr().out
    early = tmp_path / "early.csv"
    with pytest.raises(InvalidParameter, match=r"before .* the date the marts describe"):
        export_campaign(scored.paths, "champions", early, SCORED_AS_OF - timedelta(days=1))
    assert not early.exists()
    with pytest.raises(InvalidParameter, match="over the warehouse"):
        export_campaign(scored.paths, "champions", warehouse)
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        export_campaign(DataPaths(tmp_path / "missing"), "champions", tmp_path / "x.csv")
