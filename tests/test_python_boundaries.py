"""The Python-side boundaries, each tested exactly at its threshold, one below and one above:
the churn model's leakage guard, the late-rows alert, the contracts' file-date check, the volume
alert (high and low) and the freshness alert. Thresholds are read from where they are defined
(project.yaml through business_definitions(), or the module that declares them), never restated.
"""

from __future__ import annotations

import csv
import inspect
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnmesh.contracts import SOURCES, SOURCES_BY_NAME, Source
from churnmesh.data_quality import VOLUME_HISTORY_DAYS, VOLUME_MIN_HISTORY, VOLUME_MIN_RELATIVE_SPREAD, VOLUME_SIGMAS
from churnmesh.ingestion import ingest
from churnmesh.ingestion.tables import ensure_tables
from churnmesh.ingestion.validate import ContractValidator
from churnmesh.orchestration.alerts import RESTATE_MODEL, data_alerts
from churnmesh.orchestration.notify import Alert
from churnmesh.scoring.churn import LabelWindow, LeakageError, check_windows
from churnmesh.scoring.training import MIN_HISTORY_DAYS, TRAINING_STEP_DAYS, plan_windows
from churnmesh.settings import business_definitions
from tests.test_contracts import FILE_DATE, GOOD

DEFINITIONS = business_definitions()
HORIZON_DAYS = int(DEFINITIONS["churn_horizon_days"])
RECOGNITION_DAYS = int(DEFINITIONS["churn_inactive_days"])  # a churn is known this long after the last activity
HISTORY_START = date.fromisoformat(str(DEFINITIONS["history_start"]))
LOOKBACK_DAYS = int(DEFINITIONS["late_data_lookback_days"])
ALLOWANCE_DAYS = int(DEFINITIONS["freshness_allowance_days"])

ONE_DAY = timedelta(days=1)
# Offsets from a boundary: one day before it, on it, one day after it.
AROUND = (-1, 0, 1)
AROUND_IDS = ["one_day_before", "at", "one_day_after"]
TEMPORAL_KINDS = ("date", "datetime")


def _kinds(alerts: list[Alert], kind: str) -> dict[str, Alert]:
    return {a.key: a for a in alerts if a.kind == kind}


# ------------------------------------------------------------------ 1. the leakage guard

SPAN = timedelta(days=HORIZON_DAYS + RECOGNITION_DAYS)  # the future a label needs
TEST_AS_OF = date(2026, 6, 1)


def _window(as_of: date) -> LabelWindow:
    return LabelWindow(as_of, HORIZON_DAYS, RECOGNITION_DAYS)


def test_a_label_needs_the_horizon_and_the_recognition_days_of_future() -> None:
    assert _window(TEST_AS_OF).label_end == TEST_AS_OF + SPAN


@pytest.mark.parametrize("offset", AROUND, ids=AROUND_IDS)
def test_training_labels_may_reach_the_calibration_date_but_not_one_day_past_it(offset: int) -> None:
    calibration = _window(TEST_AS_OF - SPAN - ONE_DAY)  # clear of the test window: only one edge is tested
    training = [_window(calibration.as_of - SPAN + timedelta(days=offset))]
    assert training[0].label_end - calibration.as_of == timedelta(days=offset)
    if offset > 0:
        with pytest.raises(LeakageError, match="overlap the calibration features"):
            check_windows(training, calibration, _window(TEST_AS_OF))
    else:
        check_windows(training, calibration, _window(TEST_AS_OF))


@pytest.mark.parametrize("offset", AROUND, ids=AROUND_IDS)
def test_calibration_labels_may_reach_the_test_date_but_not_one_day_past_it(offset: int) -> None:
    calibration = _window(TEST_AS_OF - SPAN + timedelta(days=offset))
    training = [_window(calibration.as_of - SPAN - ONE_DAY)]  # clear of the calibration window
    assert calibration.label_end - TEST_AS_OF == timedelta(days=offset)
    if offset > 0:
        with pytest.raises(LeakageError, match="overlap the test features"):
            check_windows(training, calibration, _window(TEST_AS_OF))
    else:
        check_windows(training, calibration, _window(TEST_AS_OF))


def _least_history_as_of() -> date:
    """The first as-of date with history for two training dates (the limit plan_windows names)."""
    return HISTORY_START + timedelta(days=MIN_HISTORY_DAYS) + 3 * SPAN + timedelta(days=TRAINING_STEP_DAYS)


def test_planned_windows_end_exactly_on_the_next_stage_and_see_nothing_after_the_as_of_date() -> None:
    # The planner packs windows edge to edge, so the window check passes only if the edge is allowed.
    as_of = _least_history_as_of()
    windows = plan_windows(as_of, HORIZON_DAYS, RECOGNITION_DAYS, HISTORY_START)
    assert windows.test.label_end == as_of
    assert windows.calibration.label_end == windows.test.as_of
    assert max(w.label_end for w in windows.training) == windows.calibration.as_of
    with pytest.raises(ValueError, match="not enough history"):
        plan_windows(as_of - ONE_DAY, HORIZON_DAYS, RECOGNITION_DAYS, HISTORY_START)


# ------------------------------------------------------------------ rows of a source


def _temporal(source: Source) -> dict[str, str]:
    return {c.name: c.kind for c in source.columns if c.kind in TEMPORAL_KINDS}


def _text(value: pd.Timestamp, kind: str) -> str:
    return f"{value:%Y-%m-%d}" if kind == "date" else f"{value:%Y-%m-%d %H:%M:%S}"


def row_with(source: Source, column: str, value: pd.Timestamp) -> dict[str, str | None]:
    """The well-formed row of tests/test_contracts.py with `column` set to `value`. The source's
    other dates move along where needed, so that the row keeps its own order (updated_at not
    before signup, a ticket closed after it opened) and only `column` is at the boundary."""
    row = dict(GOOD[source.name])
    kinds = _temporal(source)
    anchor = pd.Timestamp(row[column])
    for other, kind in kinds.items():
        if other == column or row[other] is None:
            continue
        current = pd.Timestamp(row[other])
        if current == anchor:
            moved = value
        elif current > anchor:
            moved = max(current, value)
        else:
            moved = min(current, value)
        row[other] = _text(moved, kind)
    row[column] = _text(value, kinds[column])
    return row


# ------------------------------------------------------------------ 2. the late-rows alert

LATE_SOURCES = tuple(s for s in SOURCES if s.event_column is not None and s.name in RESTATE_MODEL)
# A row on each run day, so many days late: inside the lookback, on its edge, one day past it.
# Run days two apart, so that the three rows fall on different dates (one day apart, the files
# would hold the same row, and all but one would be skipped as re-deliveries).
DAYS_LATE = {FILE_DATE.date() + timedelta(days=2 * k): LOOKBACK_DAYS + offset for k, offset in enumerate(AROUND)}


def write_csv(path: Path, source: Source, rows: list[dict[str, str | None]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(source.column_names)
        writer.writerows([[row[name] or "" for name in source.column_names] for row in rows])


def _late_event(run_day: date) -> pd.Timestamp:
    # Midday: the alert compares dates, whatever the time of day.
    return pd.Timestamp(run_day - timedelta(days=DAYS_LATE[run_day])) + pd.Timedelta(hours=12)


@pytest.fixture(scope="module")
def late_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A real ingest of one tiny file per late-data source and run day."""
    root = tmp_path_factory.mktemp("late_rows")
    for source in LATE_SOURCES:
        for run_day in DAYS_LATE:
            row = row_with(source, str(source.event_column), _late_event(run_day))
            write_csv(root / "landing" / source.name / f"{run_day}.csv", source, [row])
    report = ingest(root / "landing", root / "warehouse.duckdb")
    assert all(o.status == "loaded" and o.rows_loaded == 1 for o in report.outcomes), report.outcomes
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.mark.parametrize("source", [s.name for s in LATE_SOURCES])
@pytest.mark.parametrize("run_day", list(DAYS_LATE), ids=[f"{n}_days_late" for n in DAYS_LATE.values()])
def test_only_rows_later_than_the_lookback_alert(
    late_warehouse: duckdb.DuckDBPyConnection, source: str, run_day: date
) -> None:
    late = _kinds(data_alerts(late_warehouse, run_day), "late_rows")
    event_day = _late_event(run_day).date()
    if DAYS_LATE[run_day] > LOOKBACK_DAYS:
        assert late[source].data == {
            "source": source,
            "rows": 1,
            "first_date": str(event_day),
            "last_date": str(event_day),
        }
    else:
        assert source not in late, f"a row {DAYS_LATE[run_day]} days late is inside a {LOOKBACK_DAYS}-day lookback"


# ------------------------------------------------------------------ 3. the contracts' file-date check

FILE_DATE_CALL = re.compile(r'_not_after_file_date\(df, "(\w+)"\)')


def file_date_checks() -> list[tuple[str, str, str]]:
    """(source, column, rejection reason) of every contract check built on _not_after_file_date."""
    found: list[tuple[str, str, str]] = []
    for source in SOURCES:
        for check in source.contract.to_schema().checks:
            called = FILE_DATE_CALL.search(inspect.getsource(getattr(source.contract, check.name)))
            if called:
                found.append((source.name, called.group(1), str(check.error)))
    return found


FILE_DATE_CHECKS = file_date_checks()
FILE_DATE_IDS = [f"{source}.{column}" for source, column, _ in FILE_DATE_CHECKS]


def _validate(source: Source, row: dict[str, str | None]) -> tuple[int, list[str]]:
    """(valid rows, rejection reasons) of the row in a file dated FILE_DATE."""
    frame = pd.DataFrame([{**row, "_row_number": 1, "_file_date": FILE_DATE, "_source_file": "x.csv"}])
    checked = ContractValidator(source).validate(frame)
    return len(checked.valid), checked.rejected["_reject_reason"].tolist()


def _file_day_end(kind: str) -> pd.Timestamp:
    """The last moment of the file's day a column can express: 23:59:59, or the date itself."""
    return FILE_DATE if kind == "date" else FILE_DATE + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


def test_the_file_date_checks_are_found_and_each_dates_a_column() -> None:
    assert FILE_DATE_CHECKS, "no contract check calls _not_after_file_date: the derivation is broken"
    assert all(column in _temporal(SOURCES_BY_NAME[s]) for s, column, _ in FILE_DATE_CHECKS)


@pytest.mark.parametrize(("source", "column", "reason"), FILE_DATE_CHECKS, ids=FILE_DATE_IDS)
def test_an_event_late_on_the_file_date_passes(source: str, column: str, reason: str) -> None:
    contract = SOURCES_BY_NAME[source]
    at_end = _file_day_end(_temporal(contract)[column])
    assert _validate(contract, row_with(contract, column, at_end)) == (1, [])


@pytest.mark.parametrize(("source", "column", "reason"), FILE_DATE_CHECKS, ids=FILE_DATE_IDS)
def test_an_event_the_day_before_the_file_date_passes(source: str, column: str, reason: str) -> None:
    contract = SOURCES_BY_NAME[source]
    day_before = _file_day_end(_temporal(contract)[column]) - pd.Timedelta(days=1)
    assert _validate(contract, row_with(contract, column, day_before)) == (1, [])


@pytest.mark.parametrize(("source", "column", "reason"), FILE_DATE_CHECKS, ids=FILE_DATE_IDS)
def test_an_event_at_midnight_after_the_file_date_is_rejected(source: str, column: str, reason: str) -> None:
    contract = SOURCES_BY_NAME[source]
    next_day = FILE_DATE + pd.Timedelta(days=1)
    valid, reasons = _validate(contract, row_with(contract, column, next_day))
    assert valid == 0 and len(reasons) == 1
    assert reason in reasons[0].split("; ")


# ------------------------------------------------------------------ manifests for volume and freshness


def manifest_warehouse(path: Path, files: dict[tuple[str, date], int]) -> duckdb.DuckDBPyConnection:
    """A warehouse with ingestion's own tables whose manifest records loaded files:
    (source, file date) -> rows loaded."""
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.executemany(
        "INSERT INTO raw.ingest_manifest VALUES (?, ?, ?, 'sha', 1, ?, ?, 0, 0, 'loaded', NULL, NULL, ?, NULL)",
        [
            (f"{source}/{day}.csv", source, day, rows, rows, datetime(2026, 1, 1))
            for (source, day), rows in files.items()
        ],
    )
    return con


def manifest_alerts(folder: Path, files: dict[tuple[str, date], int], as_of: date, kind: str) -> dict[str, Alert]:
    """The data alerts of one kind, by key, as of a day, over a manifest of `files`."""
    folder.mkdir(parents=True, exist_ok=True)
    con = manifest_warehouse(folder / "warehouse.duckdb", files)
    try:
        return _kinds(data_alerts(con, as_of), kind)
    finally:
        con.close()


# ------------------------------------------------------------------ 4. the volume alert

VOLUME_SOURCE = SOURCES[0].name
VOLUME_DAY = date(2024, 6, 1)
USUAL_ROWS = 1_000  # the same every day, so the bound is the relative floor of the spread


def _volume_margin() -> int:
    """How far from a constant daily volume the rows may go before they alert."""
    margin = VOLUME_SIGMAS * (VOLUME_MIN_RELATIVE_SPREAD * USUAL_ROWS)
    assert margin.is_integer() and margin >= VOLUME_SIGMAS, "pick USUAL_ROWS so the bound is a whole row count"
    return int(margin)


@pytest.mark.parametrize("direction", [1, -1], ids=["high", "low"])
@pytest.mark.parametrize("offset", AROUND, ids=AROUND_IDS)
def test_volume_alerts_only_beyond_the_high_and_the_low_bound(tmp_path: Path, direction: int, offset: int) -> None:
    history = {(VOLUME_SOURCE, VOLUME_DAY - timedelta(days=d)): USUAL_ROWS for d in range(1, VOLUME_HISTORY_DAYS + 1)}
    today = USUAL_ROWS + direction * (_volume_margin() + offset)  # offset > 0: past the bound
    volume = manifest_alerts(tmp_path, {**history, (VOLUME_SOURCE, VOLUME_DAY): today}, VOLUME_DAY, "volume")
    if offset > 0:
        assert volume[VOLUME_SOURCE].data["rows_loaded"] == today
    else:
        assert VOLUME_SOURCE not in volume, f"{today} rows are within the bound of {USUAL_ROWS}"


# ------------------------------------------------------------------ 5. freshness

NEWEST_DELIVERY = date(2024, 6, 1)
DELIVERY_DAYS = ALLOWANCE_DAYS + 10  # every source has delivered daily for a while


def _deliveries(late_source: str, days_old: int) -> dict[tuple[str, date], int]:
    """Daily files of every source up to NEWEST_DELIVERY; late_source's stop days_old days before."""
    files: dict[tuple[str, date], int] = {}
    for source in SOURCES:
        newest = NEWEST_DELIVERY - timedelta(days=days_old if source.name == late_source else 0)
        for back in range(DELIVERY_DAYS):
            files[(source.name, newest - timedelta(days=back))] = 10
    return files


@pytest.mark.parametrize("late_source", [s.name for s in SOURCES])
@pytest.mark.parametrize("offset", AROUND, ids=AROUND_IDS)
def test_a_source_alerts_only_when_older_than_the_freshness_allowance(
    tmp_path: Path, late_source: str, offset: int
) -> None:
    days_old = ALLOWANCE_DAYS + offset
    fresh = manifest_alerts(tmp_path, _deliveries(late_source, days_old), NEWEST_DELIVERY, "freshness")
    if offset > 0:
        assert set(fresh) == {late_source}
        newest = NEWEST_DELIVERY - timedelta(days=days_old)
        assert fresh[late_source].title.startswith(f"{late_source}: newest file {newest}, {days_old} days behind")
    else:
        assert fresh == {}, f"a newest file {days_old} day(s) old is within a {ALLOWANCE_DAYS}-day allowance"


# ------------------------------------------------------------------ 6. each data alert whole, as it is sent


def _history(rows_by_day: list[int], source: str = VOLUME_SOURCE) -> dict[tuple[str, date], int]:
    return {(source, VOLUME_DAY - timedelta(days=back)): n for back, n in enumerate(rows_by_day, start=1)}


def _volume_alerts(folder: Path, files: dict[tuple[str, date], int]) -> dict[str, Alert]:
    return manifest_alerts(folder, files, VOLUME_DAY, "volume")


def test_a_volume_alert_names_the_source_the_day_its_rows_and_the_trailing_mean(tmp_path: Path) -> None:
    """The last source in the contracts, so a loop that stopped at a source without a file today
    would never reach it; a mean with decimals, shown whole in the title and to one decimal in data."""
    source = SOURCES[-1].name
    history = _history([1000, 1001, 1001] * (VOLUME_MIN_HISTORY // 3 + 1), source)
    mean = sum(history.values()) / len(history)
    alerts = _volume_alerts(tmp_path, {**history, (source, VOLUME_DAY): 5_000})
    assert alerts == {
        source: Alert(
            VOLUME_DAY,
            "volume",
            source,
            f"{source}: 5,000 rows loaded on {VOLUME_DAY}, trailing {VOLUME_HISTORY_DAYS}-day mean {mean:,.0f}",
            data={"source": source, "rows_loaded": 5_000, "trailing_mean": round(mean, 1)},
        )
    }
    assert round(mean, 1) != round(mean, 2)


def test_the_volume_bound_is_the_spread_of_the_history_when_it_is_wider_than_the_floor(tmp_path: Path) -> None:
    history = _history([500, 1500] * VOLUME_MIN_HISTORY)  # mean 1,000, spread 500: wider than 10% of the mean
    bound = 1000 + int(VOLUME_SIGMAS * 500)
    assert _volume_alerts(tmp_path / "in", {**history, (VOLUME_SOURCE, VOLUME_DAY): bound}) == {}
    assert VOLUME_SOURCE in _volume_alerts(tmp_path / "out", {**history, (VOLUME_SOURCE, VOLUME_DAY): bound + 1})


@pytest.mark.parametrize(("today", "alerts"), [(1, False), (int(VOLUME_SIGMAS), False), (int(VOLUME_SIGMAS) + 1, True)])
def test_an_empty_history_tolerates_one_row_of_spread(tmp_path: Path, today: int, alerts: bool) -> None:
    """A source that loaded nothing for weeks: the spread is at least one row, so a single row is
    no anomaly but more than VOLUME_SIGMAS rows are."""
    files = {**_history([0] * VOLUME_MIN_HISTORY), (VOLUME_SOURCE, VOLUME_DAY): today}
    assert (VOLUME_SOURCE in _volume_alerts(tmp_path, files)) is alerts


@pytest.mark.parametrize(("days", "judged"), [(VOLUME_MIN_HISTORY - 1, False), (VOLUME_MIN_HISTORY, True)])
def test_a_volume_is_judged_from_the_minimum_history_on(tmp_path: Path, days: int, judged: bool) -> None:
    files = {**_history([USUAL_ROWS] * days), (VOLUME_SOURCE, VOLUME_DAY): 10 * USUAL_ROWS}
    assert (VOLUME_SOURCE in _volume_alerts(tmp_path, files)) is judged


def test_a_late_rows_alert_says_what_was_restated_and_how_to_redo_it(
    late_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    run_day = max(d for d, late in DAYS_LATE.items() if late > LOOKBACK_DAYS)
    event_day = _late_event(run_day).date()
    late = _kinds(data_alerts(late_warehouse, run_day), "late_rows")
    assert set(late) == {s.name for s in LATE_SOURCES}
    for source in LATE_SOURCES:
        model = RESTATE_MODEL[source.name]
        assert late[source.name] == Alert(
            run_day,
            "late_rows",
            source.name,
            f"{source.name}: 1 rows dated {event_day} to {event_day} arrived on {run_day}, "
            f"later than the {LOOKBACK_DAYS}-day lookback",
            (
                f"Restated automatically after the day's run: {model} and everything downstream from "
                f"{event_day} to {event_day}, with any other change behind the lookback.",
                f"To restate again by hand: churnmesh backfill --restate --model {model} "
                f"--start {event_day} --end {event_day}",
            ),
            {"source": source.name, "rows": 1, "first_date": str(event_day), "last_date": str(event_day)},
        )


def test_a_freshness_alert_carries_the_lag_the_gaps_and_the_watermark(tmp_path: Path) -> None:
    """A source three days past the allowance that also missed the day before its newest file, as
    of that newest day (the lag is measured against the other sources, the gaps against the date)."""
    late_source = SOURCES[-1].name
    days_old = ALLOWANCE_DAYS + 3
    files = _deliveries(late_source, days_old)
    newest = NEWEST_DELIVERY - timedelta(days=days_old)
    gap = newest - timedelta(days=ALLOWANCE_DAYS)  # the first day of the window ending on `newest`
    del files[(late_source, gap)]
    fresh = manifest_alerts(tmp_path, files, newest, "freshness")
    lag = (
        f"newest file {newest}, {days_old} days behind the newest delivery ({NEWEST_DELIVERY}): it holds the data "
        f"watermark at {newest}, and no model runs past it (allowance {ALLOWANCE_DAYS} day(s))"
    )
    missing = f"no usable file for {gap} (1 of the {ALLOWANCE_DAYS + 1} days to {newest})"
    data = {
        "source": late_source,
        "newest_file_date": str(newest),
        "watermark": str(newest),
        "problems": [lag, missing],
    }
    assert fresh == {late_source: Alert(newest, "freshness", late_source, f"{late_source}: {lag}", (missing,), data)}


@pytest.mark.parametrize("back", [0, ALLOWANCE_DAYS, ALLOWANCE_DAYS + 1])
def test_a_missing_day_counts_as_a_gap_only_within_the_window(tmp_path: Path, back: int) -> None:
    """A day without a file from one source, `back` days before the as-of date: inside the window
    (the allowance plus the day itself) it is a gap, one day earlier it was reported already."""
    source = SOURCES[0].name
    files = _deliveries(source, 0)
    missing = NEWEST_DELIVERY - timedelta(days=back)
    if back == 0:  # the newest day itself missing is lag behind the others; take a day before it
        missing -= timedelta(days=1)
    del files[(source, missing)]
    fresh = manifest_alerts(tmp_path, files, NEWEST_DELIVERY, "freshness")
    if (NEWEST_DELIVERY - missing).days <= ALLOWANCE_DAYS:
        assert fresh[source].title == (
            f"{source}: no usable file for {missing} (1 of the {ALLOWANCE_DAYS + 1} days to {NEWEST_DELIVERY})"
        )
    else:
        assert fresh == {}


def test_every_missing_day_of_the_window_is_listed(tmp_path: Path) -> None:
    """As of the day before the newest delivery, a source missed both days of the window."""
    source = SOURCES[0].name
    as_of = NEWEST_DELIVERY - ONE_DAY
    files = _deliveries(source, 0)
    missing = [as_of - timedelta(days=back) for back in range(ALLOWANCE_DAYS, -1, -1)]
    for day in missing:
        del files[(source, day)]
    fresh = manifest_alerts(tmp_path, files, as_of, "freshness")
    listed = ", ".join(map(str, missing))
    assert (
        fresh[source].title
        == f"{source}: no usable file for {listed} ({len(missing)} of the {len(missing)} days to {as_of})"
    )
