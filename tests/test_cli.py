"""The `churnmesh` console script, run as a user runs it."""

from __future__ import annotations

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
