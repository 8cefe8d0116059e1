"""The `churnmesh` console script, run as a user runs it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

CHURNMESH = Path(sys.executable).parent / "churnmesh"


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHURNMESH_DATA_DIR": str(data_dir)}
    return subprocess.run([str(CHURNMESH), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_generate_then_ingest_then_ingest_again(tmp_path: Path) -> None:
    generated = run(
        "generate",
        "--customers",
        "50",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-14",
        "--dirty-rate",
        "0.05",
        data_dir=tmp_path,
    )
    assert generated.returncode == 0, generated.stderr
    assert "generated 50 customers" in generated.stdout
    assert (tmp_path / "landing" / "orders" / "2024-01-14.csv").exists()

    first = run("ingest", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "loaded" in first.stdout and "quarantined" in first.stdout
    assert (tmp_path / "warehouse.duckdb").exists()

    second = run("ingest", data_dir=tmp_path)
    assert second.returncode == 0
    assert "0 loaded" in second.stdout
    assert "98 seen before (unchanged)" in second.stdout


def test_a_changed_file_makes_ingest_fail_with_a_clear_message(tmp_path: Path) -> None:
    assert (
        run(
            "generate", "--customers", "20", "--start", "2024-01-01", "--end", "2024-01-03", data_dir=tmp_path
        ).returncode
        == 0
    )
    assert run("ingest", data_dir=tmp_path).returncode == 0
    orders = tmp_path / "landing" / "orders" / "2024-01-02.csv"
    orders.write_bytes(orders.read_bytes() + b"\n")  # new bytes, same rows
    refused = run("ingest", data_dir=tmp_path)
    assert refused.returncode == 1
    assert "refused orders/2024-01-02.csv" in refused.stderr
    assert "--replace" in refused.stderr
    assert run("ingest", "--replace", data_dir=tmp_path).returncode == 0


def test_bad_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    for args, message in [
        (("generate", "--customers", "0"), "not a positive whole number"),
        (("generate", "--customers", "5", "--start", "2024-02-30"), "not a date"),
        (("generate", "--customers", "5", "--dirty-rate", "0.9"), "between 0 and 0.5"),
        (("generate", "--customers", "5", "--start", "2024-02-01", "--end", "2024-01-01"), "is before start"),
        (("ingest", "--landing", str(tmp_path / "nowhere")), "does not exist"),
    ]:
        result = run(*args, data_dir=tmp_path)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_mistyped_model_name_is_refused_with_the_closest(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    typo = run(
        "backfill", "--start", "2024-01-01", "--end", "2024-01-02", "--model", "core.fct_order", data_dir=tmp_path
    )
    assert typo.returncode == 2, typo.stderr
    assert "unknown model 'core.fct_order': did you mean core.fct_orders?" in typo.stderr
    assert "Traceback" not in typo.stderr
    unlike = run("backfill", "--start", "2024-01-01", "--end", "2024-01-02", "--model", "zz.qqqq", data_dir=tmp_path)
    assert "unknown model 'zz.qqqq': models are core.dim_customers" in unlike.stderr


# What a command loads before it answers: the declaration and the read path stay light.
HEAVY_PACKAGES = ("sqlmesh", "prefect", "pandera", "sklearn", "pandas", "scipy", "numpy", "streamlit", "mcp")
LOADED_HEAVY = (
    "import sys; from churnmesh.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[0].split(',')))\n"
    "print('loaded=' + ','.join(heavy), 'exit:', code, file=sys.stderr)\n"
)


def loaded_heavy(*args: str, data_dir: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    env = {**os.environ, "CHURNMESH_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-c", LOADED_HEAVY.replace("sys.argv[0]", repr(",".join(HEAVY_PACKAGES))), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("loaded="), result.stderr
    return [name for name in line.split()[0].removeprefix("loaded=").split(",") if name], result


def test_help_and_a_lookup_load_no_heavy_package(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.mart_customer_360 AS SELECT 'C0000042' AS customer_id, DATE '2025-12-30' AS as_of_date"
    )
    con.close()
    for args in (("--help",), ("--version",), ("query", "--help"), ("model", "use", "--help")):
        heavy, result = loaded_heavy(*args, data_dir=tmp_path)
        assert heavy == [], (args, heavy)
        assert "exit: 0" in result.stderr
    heavy, result = loaded_heavy("query", "customer", "C0000042", "--format", "json", data_dir=tmp_path)
    assert heavy == [], heavy
    assert '"customer_id": "C0000042"' in result.stdout, result.stderr


def test_the_lock_and_the_wait_option_follow_the_declaration() -> None:
    from churnmesh.commands import build_parser, every_command

    parser = build_parser()
    for command in every_command():
        sub = parser
        for word in command.words:
            sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
        has_wait = any("--wait-seconds" in a.option_strings for a in sub._actions)
        assert has_wait == command.writes_warehouse, command.name
    writers = {c.name for c in every_command() if c.writes_warehouse}
    assert {"ingest", "pipeline", "backfill", "demo", "train", "model use"} <= writers
    assert not writers & {"query customer", "query segment", "dashboard", "mcp", "export campaign", "generate"}


def test_every_option_says_what_it_is_for() -> None:
    from churnmesh.commands import build_parser

    def undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found += undocumented(sub, f"{path} {name}")
            elif not action.help:
                found.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return found

    assert undocumented(build_parser(), "churnmesh") == []


def test_version_is_the_package_version() -> None:
    from churnmesh import __version__

    result = subprocess.run([str(CHURNMESH), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"churnmesh {__version__}"


def test_status_names_a_run_that_never_ended_and_an_undelivered_alert(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from churnmesh.orchestration import journal
    from churnmesh.orchestration.notify import UNDELIVERED, Alert, Ledger, notifications_dir
    from churnmesh.settings import DataPaths

    paths = DataPaths(tmp_path)
    run = SimpleNamespace(id="6f1c", name="nightly-2025-12-30")
    started = SimpleNamespace(
        type=SimpleNamespace(value="RUNNING"), message=None, timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    journal.record(paths, "daily-refresh", run, started, "2025-12-30")  # then the process was killed
    alert = Alert(date(2025, 12, 30), "freshness", "orders", "orders: no file for 2025-12-30")
    Ledger(notifications_dir(paths) / "ledger.jsonl").record(alert, "webhook", UNDELIVERED, 4, "HTTP 503")

    result = subprocess.run(
        [str(CHURNMESH), "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "CHURNMESH_DATA_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "prod: no warehouse yet" in lines[1]
    assert (
        "last run: daily-refresh 'nightly-2025-12-30' for 2025-12-30, started 2026-01-01T00:00:00+00:00, "
        "has not ended: still running, or its process was killed"
    ) in lines
    assert "alerts: 0 delivered, 1 not delivered" in result.stdout
    assert "  2025-12-30|freshness|orders: HTTP 503" in lines
    assert "Traceback" not in result.stderr
