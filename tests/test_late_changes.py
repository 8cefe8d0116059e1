"""Changes behind the lookback reach the facts in the run that follows them
(churnmesh/orchestration/late_changes.py).

The property: landing files delivered in a random order over a few daily runs (ingest, SQLMesh
run, restatement of what changed behind the lookback) give the same facts and marts as one full
rebuild of the same raw data. The orders of delivery mix what real exports do: whole files weeks
late (a customer file among them), customer profiles days after their orders and beyond the
lookback, orders, sessions and tickets in a later file, replays of a row and of a whole file, a
file written again with the same bytes, and a file dated 30 days back replaced with `--replace`
(a row deleted, a row changed, a row added). Each seed is one order of delivery.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from churnmesh.faults import CRASH_ENV
from churnmesh.generator import GeneratorConfig, generate
from churnmesh.ingestion import ingest
from churnmesh.orchestration.late_changes import (
    Restatement,
    incremental_models,
    pending_restatements,
    restate_pending,
)
from churnmesh.orchestration.refresh import refresh_warehouse
from churnmesh.settings import DataPaths, business_definitions
from churnmesh.warehouse import MARTS, build_prod, sqlmesh_context
from tests.helpers import INGEST_TABLES, fingerprint

LOOKBACK_DAYS = int(business_definitions()["late_data_lookback_days"])
BASE_DAY = date(2024, 2, 5)  # built in one go; long enough for the CLV fit
DAILY_DAYS = tuple(BASE_DAY + timedelta(days=i) for i in range(1, 5))
DATA = GeneratorConfig(customers=300, start=date(2024, 1, 1), end=DAILY_DAYS[-1], seed=5)
REPLACED_DAYS_BACK = 30
SEEDS = (1, 2, 3)

RAW_TABLES = tuple(t for t in INGEST_TABLES if t != "raw.ingest_manifest")
FACT_TABLES = (
    "core.dim_customers",
    "core.fct_orders",
    "core.fct_sessions",
    "core.fct_revenue",
    "core.fct_support_tickets",
    "core.fct_subscriptions",
    "core.fct_loyalty",
    "core.orphan_facts",
    "intermediate.int_customer_daily_metrics",
    "intermediate.int_customer_features",
    "intermediate.int_customer_lifecycle",
)


@dataclass
class CsvFile:
    """A landing CSV as its header line and row lines (the generator writes one row a line)."""

    header: str
    rows: list[str]

    @classmethod
    def parse(cls, content: str) -> CsvFile:
        header, *rows = content.splitlines()
        return cls(header, rows)

    def text(self) -> str:
        return "\n".join([self.header, *self.rows]) + "\n"

    def column(self, row: str, name: str) -> str:
        names = next(csv.reader([self.header]))
        return next(csv.reader([row]))[names.index(name)]


@dataclass
class Day:
    """What lands on one day: files (path relative to the landing folder -> content)."""

    files: dict[str, str] = field(default_factory=dict)
    replace: bool = False


@dataclass
class Deliveries:
    base: Day
    daily: dict[date, Day]
    log: list[str]  # what the order of delivery does, for the assertion message


def file_day(rel: str) -> date:
    return date.fromisoformat(Path(rel).name[:10])


def read_landing(landing: Path) -> dict[str, CsvFile]:
    return {
        p.relative_to(landing).as_posix(): CsvFile.parse(p.read_text())
        for p in sorted(landing.glob("*/*.csv"))
        if not p.relative_to(landing).as_posix().startswith("_truth")
    }


class Planner:
    """Turns the generated files into a random order of delivery (one rng, so one seed)."""

    def __init__(self, files: dict[str, CsvFile], rng: random.Random) -> None:
        self.files = files
        self.rng = rng
        self.when = {rel: max(file_day(rel), BASE_DAY) for rel in files}  # delivery day of each file
        self.late: dict[str, CsvFile] = {}  # the later files this order of delivery adds
        self.replaced: dict[str, CsvFile] = {}
        self.rewritten: dict[date, list[str]] = defaultdict(list)  # same bytes, same name, again
        self.copies: dict[date, dict[str, str]] = defaultdict(dict)  # same bytes under a new name
        self.replace_day: date | None = None
        # Files with rows sent again elsewhere: not replaced, since a replacement drops the rows
        # whose copies were counted as duplicates of them (and a rebuild would load the copies).
        self.replayed: set[str] = set()
        # A refund without its purchase fails the marts' blocking audits (negative historical
        # CLV) in the daily runs and the rebuild alike: refunded purchases stay with their refunds.
        self.profiles: dict[str, int] = defaultdict(int)  # profile rows per customer
        for rel, f in files.items():
            if rel.startswith("customers/"):
                for row in f.rows:
                    self.profiles[f.column(row, "customer_id")] += 1
        self.refunded = {
            f.column(row, "original_order_id") for r, f in files.items() if r.startswith("orders/") for row in f.rows
        } - {""}
        self.log: list[str] = []

    def behind_lookback(self, rel: str, source: str | None = None) -> bool:
        """A file delivered on time (initially) and dated before any daily run's lookback."""
        wanted = source is None or rel.startswith(source + "/")
        return wanted and self.when[rel] == BASE_DAY and file_day(rel) < BASE_DAY - timedelta(days=LOOKBACK_DAYS + 1)

    def movable(self, rel: str, row: str) -> bool:
        """Not a refunded purchase, nor a refund (see `refunded`)."""
        f = self.files[rel]
        if not rel.startswith("orders/"):
            return True
        return f.column(row, "order_id") not in self.refunded and f.column(row, "order_type") == "purchase"

    def deletable(self, rel: str, row: str) -> bool:
        """Movable, and not a customer's only profile: a replacement that takes a customer away
        after their orders reached the facts fails the day's run on the referential audit of
        core.fct_revenue, before any restatement (a known limit, not what this test is about)."""
        if rel.startswith("customers/") and self.profiles[self.files[rel].column(row, "customer_id")] < 2:
            return False
        return self.movable(rel, row)

    def late_file(self, source: str, day: date) -> CsvFile:
        rel = f"{source}/{day}-late.csv"
        header = next(f.header for r, f in self.files.items() if r.startswith(source + "/"))
        return self.late.setdefault(rel, CsvFile(header, []))

    def hold_whole_files(self) -> None:
        """A customer file and one other, delivered weeks late under their own names."""
        for source in (
            "customers",
            self.rng.choice(("orders", "device_sessions", "support_tickets", "loyalty_balances")),
        ):
            candidates = [r for r in self.files if self.behind_lookback(r, source) and self.files[r].rows]
            rel = self.rng.choice([r for r in candidates if all(self.movable(r, row) for row in self.files[r].rows)])
            self.when[rel] = self.rng.choice(DAILY_DAYS)
            self.log.append(f"{rel} delivered on {self.when[rel]}")

    def move_rows(self, source: str, count: int, pick: Callable[[CsvFile, str], bool] | None = None) -> None:
        """Rows of old files moved to a later file of the source, beyond the lookback."""
        choices = [
            (rel, row)
            for rel, f in self.files.items()
            if self.behind_lookback(rel, source)
            for row in f.rows
            if self.movable(rel, row) and (pick is None or pick(f, row))
        ]
        for rel, row in self.rng.sample(choices, min(count, len(choices))):
            day = self.rng.choice(DAILY_DAYS)
            self.files[rel].rows.remove(row)
            self.late_file(source, day).rows.append(row)
            self.log.append(f"a row of {rel} arrives in {source}/{day}-late.csv")

    def late_profiles(self) -> None:
        """Customers with one profile row and orders: the profile arrives after the lookback."""
        buyers = {
            f.column(row, "customer_id") for r, f in self.files.items() if r.startswith("orders/") for row in f.rows
        }
        profiles = self.profiles
        self.move_rows(
            "customers",
            2,
            lambda f, row: profiles[f.column(row, "customer_id")] == 1 and f.column(row, "customer_id") in buyers,
        )

    def replay_row(self) -> None:
        """A row of an on-time orders file sent again in a later file: a duplicate."""
        rel = self.rng.choice([r for r in self.files if self.behind_lookback(r, "orders") and self.files[r].rows])
        self.replayed.add(rel)
        day = self.rng.choice(DAILY_DAYS)
        self.late_file("orders", day).rows.append(self.rng.choice(self.files[rel].rows))
        self.log.append(f"a row of {rel} replayed on {day}")

    def replay_files(self) -> None:
        initial = [r for r in self.files if self.when[r] == BASE_DAY]
        copied, rewritten = self.rng.sample(initial, 2)
        self.replayed.add(copied)
        # The copy's name sorts after the original's, so a rebuild also loads the original first.
        self.copies[self.rng.choice(DAILY_DAYS)][copied.replace(".csv", "_redelivered.csv")] = copied
        self.rewritten[self.rng.choice(DAILY_DAYS)].append(rewritten)
        self.log.append(f"{copied} re-delivered under a new name; {rewritten} written again")

    def replace_old_file(self) -> None:
        """On a daily run, a corrected file dated 30 days back: a row deleted, one changed, one added."""
        self.replace_day = self.rng.choice(
            [d for d in DAILY_DAYS if d - timedelta(days=REPLACED_DAYS_BACK) >= DATA.start]
        )
        source = self.rng.choice(("orders", "support_tickets", "customers", "device_sessions"))
        target = self.replace_day - timedelta(days=REPLACED_DAYS_BACK)
        candidates = [r for r in self.files if r.startswith(source + "/") and self.when[r] == BASE_DAY]
        candidates = [
            r
            for r in candidates
            if len(self.files[r].rows) >= 3
            and r not in self.replayed
            and sum(self.movable(r, row) for row in self.files[r].rows) >= 2
            and any(self.deletable(r, row) for row in self.files[r].rows)
        ]
        rel = min(candidates, key=lambda r: abs((file_day(r) - target).days))
        old = self.files[rel]
        rows = list(old.rows)
        deleted = rows.pop(self.rng.choice([i for i, row in enumerate(rows) if self.deletable(rel, row)]))
        changed = self.rng.choice([i for i, row in enumerate(rows) if self.movable(rel, row)] or [0])
        rows[changed] = change_row(source, old, rows[changed])
        rows.append(new_row(source, old, deleted))
        self.replaced[rel] = CsvFile(old.header, rows)
        self.log.append(f"{rel} replaced on {self.replace_day}")

    def deliveries(self) -> Deliveries:
        base = Day({rel: f.text() for rel, f in self.files.items() if self.when[rel] == BASE_DAY})
        daily = {day: Day() for day in DAILY_DAYS}
        for rel, f in self.files.items():
            if self.when[rel] != BASE_DAY:
                daily[self.when[rel]].files[rel] = f.text()
        for rel, f in self.late.items():
            daily[file_day(rel)].files[rel] = f.text()
        for day, copies in self.copies.items():
            daily[day].files.update({copy: self.files[original].text() for copy, original in copies.items()})
        for day, rels in self.rewritten.items():
            daily[day].files.update({rel: self.files[rel].text() for rel in rels})
        if self.replace_day is not None:
            daily[self.replace_day].files.update({rel: f.text() for rel, f in self.replaced.items()})
            daily[self.replace_day].replace = True
        return Deliveries(base, daily, self.log)


# A replaced file's changed row: a value a correction would touch, valid under the contract.
CHANGED_COLUMN = {
    "orders": ("unit_price_usd", lambda v: f"{float(v) + 1:.2f}"),
    "support_tickets": ("channel", lambda v: "email" if v != "email" else "chat"),
    "customers": ("city", lambda v: "London" if v != "London" else "Paris"),
    "device_sessions": ("pages_viewed", lambda v: str(int(v) + 1)),
}
# The key of a replaced file's added row (a new order, ticket, customer or session).
NEW_KEY = {
    "orders": "O999999999",
    "support_tickets": "T99999999",
    "customers": "C9999999",
    "device_sessions": "E9999999999",
}


def change_row(source: str, f: CsvFile, row: str) -> str:
    column, change = CHANGED_COLUMN[source]
    return set_value(f, row, column, change(f.column(row, column)))


def new_row(source: str, f: CsvFile, template: str) -> str:
    key = next(csv.reader([f.header]))[0]
    return set_value(f, template, key, NEW_KEY[source])


def set_value(f: CsvFile, row: str, column: str, value: str) -> str:
    names = next(csv.reader([f.header]))
    values = next(csv.reader([row]))
    values[names.index(column)] = value
    return ",".join(f'"{v}"' if v else "" for v in values)


def plan_deliveries(generated: dict[str, str], seed: int) -> Deliveries:
    planner = Planner({rel: CsvFile.parse(text) for rel, text in generated.items()}, random.Random(seed))
    planner.hold_whole_files()
    planner.late_profiles()
    planner.move_rows("orders", 3)
    planner.move_rows("device_sessions", 3)
    planner.move_rows("support_tickets", 2)
    planner.replay_row()
    planner.replay_files()
    planner.replace_old_file()
    return planner.deliveries()


def deliver(paths: DataPaths, day: Day) -> None:
    for rel, text in day.files.items():
        path = paths.landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    landing = tmp_path_factory.mktemp("generated") / "landing"
    generate(DATA, landing)
    return {rel: f.text() for rel, f in read_landing(landing).items()}


def daily_run(paths: DataPaths, day: date) -> object:
    """The daily refresh's warehouse step: the SQLMesh run, then the restatement of what changed
    behind the lookback."""
    return refresh_warehouse(paths, day)


def daily_runs(paths: DataPaths, deliveries: Deliveries, refresh: Restate = daily_run) -> None:
    """The base build, then each day: deliver, ingest, the warehouse step."""
    deliver(paths, deliveries.base)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, BASE_DAY)
    for day, delivery in deliveries.daily.items():
        deliver(paths, delivery)
        ingest(paths.landing, paths.warehouse, replace=delivery.replace)
        refresh(paths, day)


Restate = Callable[[DataPaths, date], object]
RESTATE_IN_A_PROCESS = (
    "import sys; from datetime import date; from pathlib import Path; from churnmesh.settings import DataPaths; "
    "from churnmesh.orchestration.late_changes import restate_pending; "
    "restate_pending(DataPaths(Path(sys.argv[1])), date.fromisoformat(sys.argv[2]))"
)


@dataclass
class CrashingRestatement:
    """The day's SQLMesh run, then its restatement killed (SIGKILL) after its second model batch,
    then the day run again as a rerun of the daily flow does: the SQLMesh run (which fills the
    intervals the restatement had cleared) and the restatement."""

    killed: list[date] = field(default_factory=list)

    def __call__(self, paths: DataPaths, day: date) -> object:
        refresh_warehouse(paths, day, restate_late_changes=False)
        env = os.environ | {CRASH_ENV: "sqlmesh.after_batch:2"}
        command = [sys.executable, "-c", RESTATE_IN_A_PROCESS, str(paths.root), day.isoformat()]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode == -signal.SIGKILL:
            self.killed.append(day)
        else:
            assert done.returncode == 0, done.stderr[-2000:]
        refresh_warehouse(paths, day)
        assert restate_pending(paths, day) == [], "the rerun restated everything"
        return None


def rebuild(landing: Path, root: Path, as_of: date) -> DataPaths:
    paths = DataPaths(root)
    shutil.copytree(landing, paths.landing)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, as_of)
    return paths


@pytest.mark.parametrize(("seed", "crash"), [*((seed, False) for seed in SEEDS[:-1]), (SEEDS[-1], True)])
def test_daily_runs_in_any_order_of_delivery_equal_a_full_rebuild(
    generated: dict[str, str], seed: int, crash: bool, tmp_path: Path
) -> None:
    """With `crash`, every restatement is killed halfway once, then run again: the same result."""
    deliveries = plan_deliveries(generated, seed)
    daily = DataPaths(tmp_path / "daily")
    crashing = CrashingRestatement()
    daily_runs(daily, deliveries, crashing if crash else daily_run)
    assert crashing.killed or not crash, "a restatement was killed"
    rebuilt = rebuild(daily.landing, tmp_path / "rebuilt", DAILY_DAYS[-1])

    assert fingerprint(daily.warehouse, RAW_TABLES) == fingerprint(rebuilt.warehouse, RAW_TABLES), "same raw data"
    tables = (*FACT_TABLES, *MARTS)
    expected, found = fingerprint(rebuilt.warehouse, tables), fingerprint(daily.warehouse, tables)
    differing = [t for t in tables if expected[t] != found[t]]
    assert not differing, f"differ from a rebuild: {differing}; deliveries: {deliveries.log}"
    # Pending is read from the data: nothing after the restatements, nothing in a fresh build
    # (the models' queries and their tables agree, so a daily run restates nothing by itself).
    assert pending(daily, DAILY_DAYS[-1]) == [] and pending(rebuilt, DAILY_DAYS[-1]) == []


def pending(paths: DataPaths, as_of: date) -> list[Restatement]:
    with sqlmesh_context(paths) as context:
        return pending_restatements(context.engine_adapter.cursor, incremental_models(context, as_of))
