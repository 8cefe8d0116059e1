"""The generator: deterministic, complete, and realistic enough to test churn and CLV models on."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnmesh.contracts import SOURCES
from churnmesh.generator import GeneratorConfig, generate
from churnmesh.generator.dirty import ROW_FAULTS
from churnmesh.generator.simulate import DRIVERS


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _read(landing: Path, source: str) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted((landing / source).glob("*.csv"))]
    return pd.concat(frames, ignore_index=True)


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=150, start=date(2024, 1, 1), end=date(2024, 1, 31), seed=3, dirty_rate=0.05)
    generate(config, tmp_path / "a")
    generate(config, tmp_path / "b")
    generate(GeneratorConfig(**{**config.__dict__, "seed": 4}), tmp_path / "c")
    first = _digest(tmp_path / "a")
    assert first == _digest(tmp_path / "b")
    assert first != _digest(tmp_path / "c")


def test_every_source_has_a_file_per_day_with_the_contract_columns(clean_landing: Path) -> None:
    days = pd.date_range("2024-01-01", "2024-02-29").strftime("%Y-%m-%d")
    for source in SOURCES:
        names = sorted(p.name for p in (clean_landing / source.name).glob("*.csv"))
        assert names == [f"{d}.csv" for d in days], source.name
        header = (clean_landing / source.name / names[0]).read_text().splitlines()[0]
        assert header.replace('"', "").split(",") == list(source.column_names)


def test_chunked_generation_keeps_ids_unique_across_chunks(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=250, start=date(2024, 1, 1), end=date(2024, 1, 20), seed=5, chunk_size=60)
    result = generate(config, tmp_path)
    assert result.rows["customers"] >= 250
    customers = _read(tmp_path, "customers")
    assert customers["customer_id"].nunique() == 250
    orders = _read(tmp_path, "orders")
    assert orders["order_id"].is_unique
    sessions = _read(tmp_path, "device_sessions")
    assert sessions["session_id"].is_unique


def test_parquet_output_has_the_same_rows_as_csv(tmp_path: Path) -> None:
    config = GeneratorConfig(customers=80, start=date(2024, 1, 1), end=date(2024, 1, 10), seed=9)
    generate(config, tmp_path / "csv")
    generate(GeneratorConfig(**{**config.__dict__, "file_format": "parquet"}), tmp_path / "pq")
    for source in ("orders", "customers"):
        from_csv = _read(tmp_path / "csv", source)
        from_pq = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "pq" / source).glob("*.parquet"))])
        assert len(from_csv) == len(from_pq)
        assert sorted(from_csv.iloc[:, 0]) == sorted(from_pq.iloc[:, 0])


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean year of 3,000 customers: enough to see the behaviours the models must find."""
    out = tmp_path_factory.mktemp("year")
    generate(GeneratorConfig(customers=3000, start=date(2024, 1, 1), end=date(2024, 12, 31), seed=21), out)
    return out


def test_purchase_rates_and_spend_are_heterogeneous(year: Path) -> None:
    orders = _read(year, "orders")
    purchases = orders[orders["order_type"] == "purchase"]
    per_customer = purchases.groupby("customer_id").size()
    assert per_customer.std() / per_customer.mean() > 0.8
    amount = purchases["quantity"].astype(int) * purchases["unit_price_usd"].astype(float)
    mean_spend = amount.groupby(purchases["customer_id"]).mean()
    assert mean_spend.quantile(0.9) > 2 * mean_spend.quantile(0.1)
    assert (orders["order_type"] == "refund").mean() > 0.01


def test_dropouts_stop_buying_and_have_observable_drivers(year: Path) -> None:
    truth = pd.read_csv(year / "_truth" / "customers.csv", parse_dates=["signup_date", "dropout_date"])
    dropped = truth[truth["dropout_date"].notna()]
    assert 0.15 < len(dropped) / len(truth) < 0.7
    assert set(dropped["dropout_driver"]) == set(DRIVERS)
    orders = _read(year, "orders")
    purchases = orders[orders["order_type"] == "purchase"].merge(truth, on="customer_id")
    after = purchases[pd.to_datetime(purchases["order_datetime"]).dt.normalize() > purchases["dropout_date"]]
    assert after.empty, "a customer who dropped out kept buying"


def test_disengaging_customers_fade_before_leaving(year: Path) -> None:
    truth = pd.read_csv(year / "_truth" / "customers.csv", parse_dates=["dropout_date", "disengaged_from"])
    faded = truth[(truth["dropout_driver"] == "disengagement") & truth["disengaged_from"].notna()]
    sessions = _read(year, "device_sessions").merge(faded, on="customer_id")
    start = pd.to_datetime(sessions["session_start_ts"])
    before = (start < sessions["disengaged_from"]) & (start >= sessions["disengaged_from"] - pd.Timedelta(days=60))
    during = (start >= sessions["disengaged_from"]) & (start < sessions["dropout_date"])
    span = (faded["dropout_date"] - faded["disengaged_from"]).dt.days.clip(lower=1)
    rate_during = during.sum() / span.sum()
    rate_before = before.sum() / (60 * len(faded))
    assert rate_during < 0.8 * rate_before


def test_weekends_sell_more_than_midweek(year: Path) -> None:
    orders = _read(year, "orders")
    weekday = pd.to_datetime(orders["order_datetime"]).dt.weekday
    counts = weekday.value_counts()
    assert counts[5] > 1.1 * counts[1]


def test_defective_release_causes_a_ticket_spike(year: Path) -> None:
    releases = pd.read_csv(year / "_truth" / "app_releases.csv", parse_dates=["release_date"])
    bad = releases[releases["defective"]].iloc[0]
    tickets = _read(year, "support_tickets").drop_duplicates("ticket_id")
    opened = pd.to_datetime(tickets["opened_datetime"])
    window = tickets[(opened >= bad["release_date"]) & (opened < bad["release_date"] + pd.Timedelta(days=21))]
    earlier = tickets[(opened >= bad["release_date"] - pd.Timedelta(days=42)) & (opened < bad["release_date"])]
    assert len(window) / 21 > 1.3 * len(earlier) / 42
    assert (window["app_version"] == bad["version"]).sum() > 0.3 * len(window)


def test_profile_changes_reappear_as_new_versions(year: Path) -> None:
    customers = _read(year, "customers")
    versions = customers.groupby("customer_id").size()
    assert (versions > 1).sum() > 0
    changed = customers[customers["customer_id"].isin(versions[versions > 1].index)]
    varying = changed.groupby("customer_id")[["city", "marketing_opt_in"]].nunique().max(axis=1)
    assert (varying > 1).all()


def test_signup_cohorts_spread_over_the_window(year: Path) -> None:
    truth = pd.read_csv(year / "_truth" / "customers.csv", parse_dates=["signup_date"])
    in_window = truth[truth["signup_date"] >= "2024-01-01"]
    months = in_window["signup_date"].dt.month.value_counts()
    assert len(months) == 12
    assert months.min() > 0.02 * len(in_window)


def test_dirty_faults_are_logged_with_their_file_and_row(dirty_landing: Path) -> None:
    faults = pd.read_csv(dirty_landing / "_truth" / "row_faults.csv")
    assert set(faults["fault"]) == set(ROW_FAULTS)
    sample = faults.sample(30, random_state=1)
    for file, row in sample[["file", "row_number"]].itertuples(index=False):
        lines = (dirty_landing / file).read_bytes().decode("utf-8", errors="replace").splitlines()
        assert len(lines) > row, f"{file} has no row {row}"
    file_faults = pd.read_csv(dirty_landing / "_truth" / "file_faults.csv")
    assert len(file_faults) > 0
    assert np.isin(file_faults["expected"], ["loaded", "rejected"]).all()
