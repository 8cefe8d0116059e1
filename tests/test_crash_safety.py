"""Crash safety of the daily refresh: killed anywhere, then rerun, it ends where an uninterrupted
run ends.

The refresh runs as a separate process (`python -m churnmesh.cli pipeline --as-of DAY`) against a
warehouse built up to the day before. It is killed with SIGKILL at a named crash point
(churnmesh/faults.py: CHURNMESH_CRASH_AT=point:occurrence), then run again without one. The
result is compared with an uninterrupted run of the same day from the same start: row count and
an order-independent checksum of every raw, quarantine and prod-schema table, no duplicate raw
row, the manifest's accounting per file, SQLMesh's intervals, and the alerts received by a real
webhook receiver (each once, counting a resend of the same idempotency key as one). After every
run, killed or not, no process of it is left (its forks, its temporary Prefect server), and after
a kill a new writer gets the warehouse lock within LOCK_SECONDS.

A second scenario is a first run on a new data folder (FIRST_RUN: SQLMesh's first prod plan) with
no Prefect server configured, so the run starts its own: killed while that server starts, or
inside the plan once prod is recorded and before it is finalized.

CI runs the kill points of CI_KILLS and FIRST_RUN_KILLS, two cycles at a time. By hand,
`CHURNMESH_CRASH_ALL=1 .venv/bin/pytest tests/test_crash_safety.py -s` kills at every occurrence
of every point an uninterrupted run reaches; TIMED_KILLS times from outside, at evenly spaced
moments of the run (landing between the named points, inside SQLMesh and DuckDB); and once per
point during the rerun of a run killed there (a crash during recovery). Each is rerun twice, and
two uninterrupted runs are checked to agree; and, in the first run, every occurrence of the
points of FIRST_RUN_POINTS. It prints one line per cycle with the rows lost.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from sqlmesh import Context

from churnmesh import locking
from churnmesh.cli import STALE_EXIT
from churnmesh.contracts import SOURCES, SOURCES_BY_NAME
from churnmesh.faults import CRASH_ENV, POINTS, TRACE_ENV, parse_target
from churnmesh.orchestration.notify import IDEMPOTENCY_HEADER, WEBHOOK_ENV, Ledger
from churnmesh.settings import PROJECT_ROOT, DataPaths
from churnmesh.warehouse import execution_time
from tests.checksums import Checksum, table_checksums
from tests.conftest import SCORED_AS_OF, SMALL_CLEAN, Scored, scored_copy
from tests.helpers import LOAD_STATE_COLUMNS, withdraw_files
from tests.webhook import Receiver, webhook_receiver

DAY = SCORED_AS_OF + timedelta(days=1)
DAILY = "daily"
# Its file of the day before DAY never arrives (its file of DAY does), so DAY has a freshness alert
# for the gap besides any risk one, and the data watermark still reaches DAY. Such a run is stale:
# it completes its work and exits STALE_EXIT.
LATE_SOURCE = "loyalty_balances"
FINISHED = (0, STALE_EXIT)  # the exit codes of a run that did its whole work
# Load timestamps: the time of the run, not data. Every other column must match exactly.
FLOAT_DECIMALS = 6
# What is compared: ingestion's tables and the prod views of every SQLMesh layer.
SCHEMAS = ("raw", "quarantine", "staging", "core", "intermediate", "metrics", "scoring", "marts")

# (point, which occurrence): "first", "middle", "last" of those an uninterrupted run reaches.
CI_KILLS = (
    ("ingest.after_chunk", "middle"),  # a file half staged; earlier sources' batches committed
    ("flow.after_ingest", "first"),  # everything loaded, SQLMesh not started
    ("sqlmesh.after_batch", "middle"),  # about half of the model batches done and recorded
    ("scoring.churn", "first"),  # inside the churn model: upstream done, scores not written
    ("notify.after_send", "first"),  # an alert sent, its delivery not in the ledger yet
    ("process.after_fork", "first"),  # SQLMesh loading the project, a forked worker holding the lock's fd
)
FIRST_RUN = "first run"
# What a first run goes through and the daily run does not: the temporary server's start and the
# first prod plan, with its forks (CHURNMESH_CRASH_ALL: every occurrence of each).
FIRST_RUN_POINTS = ("server.starting", "process.after_fork", "sqlmesh.before_finalize")
FIRST_RUN_KILLS = (
    ("server.starting", "first"),  # the temporary Prefect server started, not answering yet
    ("sqlmesh.before_finalize", "first"),  # prod recorded and its views made, not finalized
)
CRASH_ALL = os.environ.get("CHURNMESH_CRASH_ALL") == "1"
TIMED_KILLS = 12
PARALLEL = max(1, min(2, os.cpu_count() or 1))
RUN_TIMEOUT_SECONDS = 900
# Every process of a run carries this variable (set at its start, inherited by forks and servers).
RUN_MARKER_ENV = "CHURNMESH_TEST_RUN"
LEFTOVER_SECONDS = 5.0  # for the kernel to deliver the parent-death signals
LOCK_SECONDS = 5.0
# Every cycle runs in the first test's setup: the extended run takes far longer than one test may.
pytestmark = [pytest.mark.timeout(0)] if CRASH_ALL else []


@dataclass(frozen=True)
class Kill:
    point: str | None = None  # a crash point, or None for a kill from outside after `seconds`
    occurrence: int = 1
    seconds: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.point}:{self.occurrence}" if self.point else f"after {self.seconds:.1f} s"

    @property
    def may_resend(self) -> bool:
        """Whether it can fall between an alert's send and its record in the ledger."""
        return self.point in (None, "notify.after_send")


@dataclass
class Run:
    returncode: int
    seconds: float
    log: Path
    leftovers: list[str] = field(default_factory=list)  # processes of the run alive after it ended
    lock_seconds: float | None = None  # after a kill: how long a new writer waited (None: in vain)

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Scenario:
    name: str
    base: Path  # data/ to copy, and pending/ with the files of the day
    as_of: date
    api_url: str | None  # None: no Prefect server configured; the run starts a temporary one


@dataclass
class Cycle:
    scenario: str
    kills: tuple[Kill, ...]  # the first kills a fresh run; any next one the run after it
    paths: DataPaths
    killed: list[Run]
    reruns: list[Run]
    keys: list[str | None] = field(default_factory=list)  # Idempotency-Key of each request received
    ledger_keys: list[str] = field(default_factory=list)  # churnmesh.as_of|kind|key of each request

    @property
    def id(self) -> str:
        return cycle_id(self.scenario, self.kills)

    @property
    def died(self) -> bool:
        return self.killed[0].returncode == -signal.SIGKILL


def cycle_id(scenario: str, kills: tuple[Kill, ...]) -> str:
    killed = " then ".join(k.id for k in kills)
    return killed if scenario == DAILY else f"{scenario}: {killed}"


@dataclass
class Reference:
    paths: DataPaths
    run: Run
    trace: list[str]
    fingerprint: dict[str, Checksum]
    intervals: dict[str, list[tuple[int, int]]]
    alerts: dict[str, str]  # Idempotency-Key -> ledger key


# ---------------------------------------------------------------- the day and the process


@pytest.fixture(scope="module")
def prefect_api_url() -> Iterator[str]:
    """One Prefect server for every refresh process of the module (each would start its own)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="module")
def crash_base(scored_base: Scored, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scored_base as it stood before DAY: the files dated after SCORED_AS_OF (and LATE_SOURCE's
    of SCORED_AS_OF) moved to pending/ and their rows taken out of the ingestion tables. Files
    load in date order, so no earlier file's rows or accounting depend on them."""
    root = tmp_path_factory.mktemp("crash_base")
    paths = scored_copy(scored_base, root).paths
    held = [
        path
        for path in sorted(paths.landing.glob("*/*.*"))
        if path.parent.name in SOURCES_BY_NAME and _held_back(path.parent.name, path.name[:10])
    ]
    rels = [path.relative_to(paths.landing).as_posix() for path in held]
    withdraw_files(paths.warehouse, paths.landing, rels, keep_in=root / "pending")
    return root


@pytest.fixture(scope="module")
def daily(crash_base: Path, prefect_api_url: str) -> Scenario:
    return Scenario(DAILY, crash_base, DAY, prefect_api_url)


@pytest.fixture(scope="module")
def first_run(clean_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """A data folder with landing files only: its first run applies SQLMesh's first prod plan."""
    base = tmp_path_factory.mktemp("first_run_base")
    shutil.copytree(clean_landing, DataPaths(base / "data").landing)
    return Scenario(FIRST_RUN, base, SMALL_CLEAN.end, None)


def _held_back(source: str, file_day: str) -> bool:
    return file_day > SCORED_AS_OF.isoformat() or (source == LATE_SOURCE and file_day == SCORED_AS_OF.isoformat())


def day_files(base: Path) -> list[Path]:
    """What lands for DAY: every source's file of the day."""
    return sorted((base / "pending").glob(f"*/{DAY.isoformat()}*"))


def fresh_copy(base: Path, work: Path) -> DataPaths:
    paths = DataPaths(work / "data")
    shutil.copytree(base / "data", paths.root)
    for path in day_files(base):
        shutil.copy(path, paths.landing / path.parent.name / path.name)
    return paths


def refresh(paths: DataPaths, log: Path, webhook: str, scenario: Scenario, crash: Kill | None = None) -> Run:
    """The scenario's refresh as its own process; a Kill without a point kills it from here. Then
    what is left of it: its processes, and (after a kill) whether the lock can be had."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNMESH_", "PREFECT_API_URL"))}
    marker = f"{log.parent.name}/{log.name}"
    env |= {
        "CHURNMESH_DATA_DIR": str(paths.root),
        RUN_MARKER_ENV: marker,
        WEBHOOK_ENV: webhook,
        "PREFECT_LOGGING_TO_API_ENABLED": "false",  # logs stay in `log`; saves seconds per run
        "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    if scenario.api_url is not None:
        env["PREFECT_API_URL"] = scenario.api_url
    if crash is not None and crash.point:
        env[CRASH_ENV] = f"{crash.point}:{crash.occurrence}"
    if crash is None:
        env[TRACE_ENV] = str(log.with_suffix(".trace"))
    command = [sys.executable, "-m", "churnmesh.cli", "pipeline", "--as-of", scenario.as_of.isoformat()]
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        timeout = crash.seconds if crash is not None and not crash.point else RUN_TIMEOUT_SECONDS
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)  # a timed kill (or a hung run: the test fails)
            process.wait()
    run = Run(process.returncode, time.monotonic() - started, log, leftovers(marker))
    if run.returncode == -signal.SIGKILL:
        run.lock_seconds = lock_wait(paths)
    return run


def processes_marked(marker: str) -> list[str]:
    """Live processes whose environment carries RUN_MARKER_ENV=marker, as "pid command". A zombie
    (dead, not reaped yet) has no environment left to read, so it is not one of them."""
    wanted = f"{RUN_MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name} {command[:120]}")
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def leftovers(marker: str) -> list[str]:
    """The run's processes still alive LEFTOVER_SECONDS after it ended."""
    deadline = time.monotonic() + LEFTOVER_SECONDS
    while (found := processes_marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def lock_wait(paths: DataPaths) -> float | None:
    """How long a new writer waits for the warehouse lock (None: not within LOCK_SECONDS)."""
    started = time.monotonic()
    try:
        with locking.writer_lock(paths, "crash test", LOCK_SECONDS):
            return time.monotonic() - started
    except locking.WarehouseBusy:
        return None


def run_cycle(kills: tuple[Kill, ...], scenario: Scenario, work: Path) -> Cycle:
    """Kill a refresh (and its reruns, one per further kill), rerun it to the end (twice with
    CHURNMESH_CRASH_ALL=1) and keep what the webhook received."""
    paths = fresh_copy(scenario.base, work)
    with webhook_receiver(200) as receiver:
        killed = [refresh(paths, work / f"killed{n}.log", receiver.url, scenario, k) for n, k in enumerate(kills)]
        reruns = [refresh(paths, work / f"rerun{n}.log", receiver.url, scenario) for n in range(1 + CRASH_ALL)]
    keys, ledger_keys = _deliveries(receiver)
    return Cycle(scenario.name, kills, paths, killed, reruns, keys, ledger_keys)


def _deliveries(receiver: Receiver) -> tuple[list[str | None], list[str]]:
    keys = [headers.get(IDEMPOTENCY_HEADER) for headers in receiver.headers]
    alerts = [body["churnmesh"] for body in receiver.received]
    return keys, [f"{a['as_of']}|{a['kind']}|{a['key']}" for a in alerts]


# ---------------------------------------------------------------- what is compared


def fingerprint(warehouse: Path) -> dict[str, Checksum]:
    """Per table and view of SCHEMAS: row count and an order-independent checksum (a duplicated row
    changes it), without LOAD_STATE_COLUMNS. Floating-point values are rounded: DuckDB sums doubles
    in parallel, so the same rows can differ in the last bits from one evaluation to the next."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            f"WHERE table_schema IN {SCHEMAS} ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return table_checksums(
        warehouse, [table for (table,) in names], exclude_columns=LOAD_STATE_COLUMNS, float_decimals=FLOAT_DECIMALS
    )


def duplicate_raw_rows(warehouse: Path) -> dict[str, int]:
    """Rows of raw.<source> beyond the first with the same key and _row_hash (ingestion loads a
    row's text once), and files in the manifest more than once."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = {}
        for source in SOURCES:
            key = ", ".join(f'"{k}"' for k in source.key)
            (extra,) = con.execute(
                f"SELECT coalesce(sum(n - 1), 0) FROM "
                f"(SELECT count(*) AS n FROM raw.{source.name} GROUP BY {key}, _row_hash)"
            ).fetchone()
            (again,) = con.execute(f"SELECT count(*) - count(DISTINCT _row_hash) FROM raw.{source.name}").fetchone()
            found[source.name] = int(extra) + int(again)
        (files,) = con.execute("SELECT count(*) - count(DISTINCT file_path) FROM raw.ingest_manifest").fetchone()
        found["ingest_manifest"] = int(files)
        return {name: n for name, n in found.items() if n}
    finally:
        con.close()


def accounting_errors(paths: DataPaths) -> list[str]:
    """Every landing file once in the manifest with rows_in = loaded + rejected + duplicate, and
    raw and quarantine holding exactly the rows the manifest says were loaded and rejected."""
    landed = {p.relative_to(paths.landing).as_posix() for p in paths.landing.glob("*/*.*") if p.parent.name != "_truth"}
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        manifest = con.execute(
            "SELECT file_path, rows_in, rows_loaded, rows_rejected, rows_duplicate FROM raw.ingest_manifest"
        ).fetchall()
        errors = [f"{path}: {n} in != {a} + {r} + {d}" for path, n, a, r, d in manifest if n != a + r + d]
        recorded = {m[0] for m in manifest}
        errors += [f"not in the manifest: {p}" for p in sorted(landed - recorded)]
        for source in SOURCES:
            loaded, rejected, raw_rows, quarantined = con.execute(
                f"""SELECT (SELECT coalesce(sum(rows_loaded), 0) FROM raw.ingest_manifest WHERE source = $1
                            AND status = 'loaded'),
                           (SELECT coalesce(sum(rows_rejected), 0) FROM raw.ingest_manifest WHERE source = $1
                            AND status = 'loaded'),
                           (SELECT count(*) FROM raw.{source.name}),
                           (SELECT count(*) FROM quarantine.{source.name})""",
                [source.name],
            ).fetchone()
            if (loaded, rejected) != (raw_rows, quarantined):
                errors.append(f"{source.name}: manifest {loaded}/{rejected}, tables {raw_rows}/{quarantined}")
        return errors
    finally:
        con.close()


def prod_intervals(paths: DataPaths) -> dict[str, list[tuple[int, int]]]:
    """SQLMesh's recorded intervals of every model in prod but the seeds (loaded once, not per
    day), from the state without loading the project."""
    previous = os.environ.get("CHURNMESH_DATA_DIR")
    os.environ["CHURNMESH_DATA_DIR"] = str(paths.root)  # project.yaml reads it (checks run one at a time)
    context = Context(paths=str(PROJECT_ROOT), load=False)
    try:
        env = context.state_reader.get_environment("prod")
        assert env is not None
        snapshots = context.state_reader.get_snapshots(env.snapshots)
        return {s.name: [(int(a), int(b)) for a, b in s.intervals] for s in snapshots.values() if not s.is_seed}
    finally:
        context.close()
        context.engine_adapter.close()
        if previous is None:
            os.environ.pop("CHURNMESH_DATA_DIR", None)
        else:
            os.environ["CHURNMESH_DATA_DIR"] = previous


def ledger_statuses(paths: DataPaths) -> dict[str, str]:
    return Ledger(paths.root / "notifications" / "ledger.jsonl").statuses()


# ---------------------------------------------------------------- reference and kill cycles


@pytest.fixture(scope="module")
def reference(daily: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return uninterrupted(daily, tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def first_reference(first_run: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return uninterrupted(first_run, tmp_path_factory.mktemp("first_reference"))


def uninterrupted(scenario: Scenario, work: Path) -> Reference:
    paths = fresh_copy(scenario.base, work)
    with webhook_receiver(200) as receiver:
        run = refresh(paths, work / "run.log", receiver.url, scenario)
    assert run.returncode in FINISHED, run.tail()
    assert run.leftovers == [], "a run that ends leaves none of its processes"
    keys, ledger_keys = _deliveries(receiver)
    assert None not in keys and len(set(keys)) == len(keys), "an uninterrupted run sends each alert once, keyed"
    trace = (work / "run.trace").read_text().split()
    return Reference(
        paths,
        run,
        trace,
        fingerprint(paths.warehouse),
        prod_intervals(paths),
        dict(zip(keys, ledger_keys, strict=True)),
    )


def pick(trace: list[str], point: str, which: str) -> Kill:
    """The first, middle or last occurrence of `point` in an uninterrupted run."""
    reached = trace.count(point)
    assert reached, f"an uninterrupted run never reaches {point}"
    return Kill(point, {"first": 1, "middle": (reached + 1) // 2, "last": reached}[which])


@pytest.fixture(scope="module")
def second_run(daily: Scenario, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, tuple[int, int]]]:
    """Another uninterrupted run of DAY: it must agree with the reference, and its time (caches
    warm, unlike the reference's) spaces the timed kills."""
    work = tmp_path_factory.mktemp("second_run")
    paths = fresh_copy(daily.base, work)
    with webhook_receiver(200) as receiver:
        run = refresh(paths, work / "run.log", receiver.url, daily)
    assert run.returncode in FINISHED, run.tail()
    return run, fingerprint(paths.warehouse)


def every_kill(reference: Reference, seconds: float) -> list[tuple[Kill, ...]]:
    """Every occurrence of every point reached; kills from outside spread over a run of `seconds`;
    and each point's middle occurrence followed by its first in the rerun."""
    reached = Counter(reference.trace)
    singles = [(Kill(point, n),) for point in POINTS for n in range(1, reached[point] + 1)]
    step = seconds / (TIMED_KILLS + 1)
    timed = [(Kill(seconds=round(step * (n + 1), 1)),) for n in range(TIMED_KILLS)]
    twice = [(pick(reference.trace, point, "middle"), Kill(point)) for point in POINTS if reached[point]]
    return singles + timed + twice


def every_first_run_kill(reference: Reference) -> list[tuple[Kill, ...]]:
    """Every occurrence of FIRST_RUN_POINTS in the first run."""
    reached = Counter(reference.trace)
    return [(Kill(point, n),) for point in FIRST_RUN_POINTS for n in range(1, reached[point] + 1)]


@pytest.fixture(scope="module")
def cycles(
    request: pytest.FixtureRequest,
    reference: Reference,
    first_reference: Reference,
    daily: Scenario,
    first_run: Scenario,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Cycle]:
    """Every kill cycle of the session, PARALLEL at a time (each in its own copy), by id."""
    plans = [(daily, (pick(reference.trace, point, which),)) for point, which in CI_KILLS]
    plans += [(first_run, (pick(first_reference.trace, point, which),)) for point, which in FIRST_RUN_KILLS]
    if CRASH_ALL:
        seconds = min(reference.run.seconds, request.getfixturevalue("second_run")[0].seconds)
        plans += [(daily, kills) for kills in every_kill(reference, seconds) if (daily, kills) not in plans]
        plans += [(first_run, k) for k in every_first_run_kill(first_reference) if (first_run, k) not in plans]
    works = [tmp_path_factory.mktemp("kill") for _ in plans]
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = list(pool.map(lambda plan, w: run_cycle(plan[1], plan[0], w), plans, works))
    print(
        f"\nreference runs {reference.run.seconds:.0f} s and {first_reference.run.seconds:.0f} s (first run); "
        f"{len(done)} kill cycles in {time.monotonic() - started:.0f} s"
    )
    for cycle in done:
        runs = ", ".join(f"{r.seconds:.0f} s" for r in [*cycle.killed, *cycle.reruns])
        print(f"  {cycle.id}: exits {[r.returncode for r in [*cycle.killed, *cycle.reruns]]} after {runs}")
    return {c.id: c for c in done}


@dataclass
class Verdict:
    problems: list[str]
    rows_lost: int  # rows of the reference's tables missing after the rerun, summed


def verdict(cycle: Cycle, reference: Reference) -> Verdict:
    """Everything in which the killed-and-rerun warehouse differs from the reference, and what the
    runs left behind them."""
    expected_exit = reference.run.returncode  # a stale day is stale after a crash too
    failed = [
        f"rerun {n + 1} exited {r.returncode}, the reference {expected_exit}:\n{r.tail()}"
        for n, r in enumerate(cycle.reruns)
        if r.returncode != expected_exit
    ]
    if failed:
        return Verdict(failed + leftover_problems(cycle), -1)
    found, expected = fingerprint(cycle.paths.warehouse), reference.fingerprint
    problems = [f"table only in the reference: {t}" for t in sorted(expected.keys() - found.keys())]
    problems += [f"table not in the reference: {t}" for t in sorted(found.keys() - expected.keys())]
    problems += [
        f"{t}: {found[t][0]} rows, reference {expected[t][0]}"
        + (" (other content)" if found[t][0] == expected[t][0] else "")
        for t in sorted(expected.keys() & found.keys())
        if found[t] != expected[t]
    ]
    problems += [f"duplicate rows: {d}" for d in [duplicate_raw_rows(cycle.paths.warehouse)] if d]
    problems += accounting_errors(cycle.paths)
    intervals = prod_intervals(cycle.paths)
    problems += [
        f"intervals of {n}: {intervals.get(n)}" for n, i in reference.intervals.items() if intervals.get(n) != i
    ]
    problems += alert_problems(cycle, reference)
    problems += leftover_problems(cycle)
    lost = sum(max(0, count - found.get(table, (0, 0))[0]) for table, (count, _) in expected.items())
    return Verdict(problems, lost)


def leftover_problems(cycle: Cycle) -> list[str]:
    """No run leaves a process behind; after a kill, a new writer gets the lock at once."""
    runs = [
        *(("killed", n, r) for n, r in enumerate(cycle.killed)),
        *(("rerun", n, r) for n, r in enumerate(cycle.reruns)),
    ]
    problems = [f"{kind} run {n + 1} left {r.leftovers}" for kind, n, r in runs if r.leftovers]
    return problems + [
        f"killed run {n + 1}: the lock was still held {LOCK_SECONDS:g} s after the kill"
        for n, r in enumerate(cycle.killed)
        if r.returncode == -signal.SIGKILL and r.lock_seconds is None
    ]


def alert_problems(cycle: Cycle, reference: Reference) -> list[str]:
    """Each of the reference's alerts delivered, under its key; only a send cut off before the
    ledger recorded it may arrive twice, with the same key, for the receiver to drop."""
    problems = []
    received = Counter(cycle.keys)
    if set(received) != set(reference.alerts):
        problems.append(f"alerts {sorted(set(cycle.ledger_keys))}, reference {sorted(reference.alerts.values())}")
    resent = {key: n for key, n in received.items() if n > 1}
    in_flight = sum(k.may_resend for k in cycle.kills)
    if len(resent) > in_flight or any(n > 1 + in_flight for n in resent.values()):
        problems.append(f"alerts sent more than once: {resent}")
    problems += [
        f"key {key} carried {ledger_key}"
        for key, ledger_key in zip(cycle.keys, cycle.ledger_keys, strict=True)
        if reference.alerts.get(key or "") != ledger_key
    ]
    statuses = ledger_statuses(cycle.paths)
    problems += [
        f"ledger: {k} is {statuses.get(k)}" for k in reference.alerts.values() if statuses.get(k) != "delivered"
    ]
    return problems


# ---------------------------------------------------------------- the tests


def test_a_crash_point_does_nothing_unless_named_then_kills_at_the_named_occurrence(tmp_path: Path) -> None:
    script = (
        "from churnmesh.faults import crash_point\nfor _ in range(3): crash_point('flow.after_ingest')\nprint('done')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNMESH_")}
    quiet = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert (quiet.returncode, quiet.stdout) == (0, "done\n")
    trace = tmp_path / "trace"
    env |= {CRASH_ENV: "flow.after_ingest:2", TRACE_ENV: str(trace)}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL and killed.stdout == ""
    assert "SIGKILL at flow.after_ingest:2" in killed.stderr
    assert trace.read_text().split() == ["flow.after_ingest"] * 2


@pytest.mark.parametrize("target", ["ingest.after_chunk:0", "ingest.after_chunk:x", "ingest.typo"])
def test_a_crash_target_that_could_never_fire_is_refused(target: str) -> None:
    with pytest.raises(ValueError, match="CHURNMESH_CRASH_AT"):
        parse_target(target)


def test_the_reference_runs_reach_every_crash_point_and_finish_the_day(
    reference: Reference, first_reference: Reference
) -> None:
    reached = set(reference.trace) | set(first_reference.trace)
    assert reached == set(POINTS), f"points never reached: {sorted(set(POINTS) - reached)}"
    assert set(FIRST_RUN_POINTS) <= set(first_reference.trace)
    assert len(reference.alerts) >= 2, "the notification kill points need an alert after the first"
    assert any(k.endswith(f"|freshness|{LATE_SOURCE}") for k in reference.alerts.values())
    con = duckdb.connect(str(reference.paths.warehouse), read_only=True)
    try:
        assert con.execute("SELECT max(as_of_date) FROM scoring.churn_scores").fetchone() == (DAY,)
    finally:
        con.close()
    day_end = int(execution_time(DAY).timestamp() * 1000)
    unfinished = [n for n, i in reference.intervals.items() if i and i[-1][1] != day_end]
    assert not unfinished, f"models not run up to {DAY}: {unfinished}"


@pytest.mark.skipif(not CRASH_ALL, reason="CHURNMESH_CRASH_ALL=1 checks that the reference is reproducible")
def test_two_uninterrupted_runs_of_the_day_agree(
    reference: Reference, second_run: tuple[Run, dict[str, tuple[int, int]]]
) -> None:
    assert second_run[1] == reference.fingerprint


@pytest.mark.parametrize(("point", "which"), CI_KILLS, ids=[f"{p}-{w}" for p, w in CI_KILLS])
def test_a_refresh_killed_at_a_point_converges_when_rerun(
    point: str, which: str, cycles: dict[str, Cycle], reference: Reference
) -> None:
    kill = pick(reference.trace, point, which)
    cycle = cycles[kill.id]
    assert cycle.died, f"expected SIGKILL at {kill.id}, exit {cycle.killed[0].returncode}:\n{cycle.killed[0].tail()}"
    assert f"SIGKILL at {kill.id}" in cycle.killed[0].log.read_text()
    assert verdict(cycle, reference) == Verdict([], 0)


@pytest.mark.parametrize(("point", "which"), FIRST_RUN_KILLS, ids=[f"{p}-{w}" for p, w in FIRST_RUN_KILLS])
def test_a_first_run_killed_at_a_point_converges_when_rerun_and_leaves_nothing_running(
    point: str, which: str, cycles: dict[str, Cycle], first_reference: Reference
) -> None:
    """Killed while its temporary Prefect server starts, or inside the first prod plan with prod
    recorded and not finalized: the rerun starts at once and ends like an uninterrupted run."""
    kill = pick(first_reference.trace, point, which)
    cycle = cycles[cycle_id(FIRST_RUN, (kill,))]
    assert cycle.died, f"expected SIGKILL at {kill.id}, exit {cycle.killed[0].returncode}:\n{cycle.killed[0].tail()}"
    assert verdict(cycle, first_reference) == Verdict([], 0)
    # SQLMesh's run waits (six hours) for an environment a plan has not finalized, saying so.
    assert "is being updated by plan" not in cycle.reruns[0].log.read_text()


@pytest.mark.skipif(not CRASH_ALL, reason="CHURNMESH_CRASH_ALL=1 kills at every occurrence of every point")
def test_every_occurrence_of_every_point_and_timed_kills_converge(
    cycles: dict[str, Cycle], reference: Reference, first_reference: Reference
) -> None:
    lines, failed = [], []
    for cycle in cycles.values():
        result = verdict(cycle, first_reference if cycle.scenario == FIRST_RUN else reference)
        outcome = "killed" if cycle.died else f"exit {cycle.killed[0].returncode}"
        lines.append(
            f"{cycle.id:50} {outcome:7} at {cycle.killed[0].seconds:5.1f} s, rows lost {result.rows_lost}: "
            + ("same as the reference" if not result.problems else result.problems[0])
        )
        failed += [f"{cycle.id}: {p}" for p in result.problems]
        if cycle.kills[0].point and not cycle.died:
            failed.append(f"{cycle.id}: the crash point did not kill the run")
    print("\n" + "\n".join(lines))
    assert failed == []
