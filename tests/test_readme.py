"""The README is a test: its shell commands run in order, as written, on a demo-built warehouse,
each must exit 0, and prod must end scored and at the data watermark."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from churnmesh import watermark
from churnmesh.settings import PROJECT_ROOT
from churnmesh.warehouse import copy_project
from tests.helpers import query

README = PROJECT_ROOT / "README.md"
BASH_BLOCK = re.compile(r"^(?P<indent> *)```bash\n(?P<body>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL)
# Blocks the README shows that this test does not run, by their first command, and why.
NOT_RUN = {
    "make demo": "the two commands themselves: this test builds the demo with `churnmesh demo`, what "
    "`make demo` runs once the environment is set up, and `make test` is what runs this test",
    "make serve": "a server that runs until Ctrl-C; tests/test_serve.py starts it and its deployments",
    "make dashboard": "a server that runs until Ctrl-C; tests/test_dashboard_browser.py starts it and drives it "
    "in Chromium, tests/test_dashboard.py renders every page",
}
DEMO_END = "2025-12-31"


def readme_blocks() -> list[str]:
    """Every ```bash block of the README, in order, dedented as a shell would read it."""
    return [textwrap.dedent(m.group("body")) for m in BASH_BLOCK.finditer(README.read_text())]


def _first_command(block: str) -> str:
    return next(line for line in block.splitlines() if line.strip() and not line.startswith("#")).strip()


def runnable_blocks() -> list[str]:
    return [b for b in readme_blocks() if not any(_first_command(b).startswith(skip) for skip in NOT_RUN)]


def test_every_block_is_run_or_skipped_for_a_stated_reason() -> None:
    blocks = readme_blocks()
    skipped = [b for b in blocks if b not in runnable_blocks()]
    assert len(skipped) == len(NOT_RUN), [_first_command(b) for b in skipped]
    assert len(runnable_blocks()) >= 6


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository as a new user has it after `make demo`: the project, the YAML
    unit tests, the CDNOW fixture, the virtual environment, and ./data built by the demo."""
    root = copy_project(tmp_path_factory.mktemp("readme") / "repo")
    (root / "tests" / "fixtures").mkdir(parents=True)
    for unit_test in (PROJECT_ROOT / "tests").glob("test_*.yaml"):
        shutil.copy(unit_test, root / "tests" / unit_test.name)
    shutil.copy(PROJECT_ROOT / "tests" / "fixtures" / "CDNOW_sample.txt", root / "tests" / "fixtures")
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    demo = subprocess.run(
        [str(root / ".venv" / "bin" / "churnmesh"), "demo"],
        cwd=root,
        env=_environment(root),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    return root


def _environment(root: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("CHURNMESH_", "PREFECT_", "VIRTUAL_ENV"))}
    return {**kept, "CHURNMESH_DATA_DIR": str(root / "data")}


def test_the_readme_commands_run_as_written_and_leave_prod_scored_at_the_watermark(repo: Path) -> None:
    # One shell, as a reader types them one after the other; the first failing command stops it.
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'echo \"README command failed (exit $?): $BASH_COMMAND\" >&2' ERR",
            *runnable_blocks(),
        ]
    )
    environment = {k: v for k, v in _environment(repo).items() if k != "CHURNMESH_DATA_DIR"}
    result = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=environment, capture_output=True, text=True, timeout=2400, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + "\n" + result.stderr[-4000:]
    assert "README command failed" not in result.stderr
    warehouse = repo / "data" / "warehouse.duckdb"
    assert str(watermark.of_warehouse(warehouse).day) == DEMO_END
    dated = query(warehouse, "SELECT DISTINCT as_of_date FROM marts.mart_churn_risk")
    assert [str(d) for (d,) in dated] == [DEMO_END]
    unscored = query(warehouse, "SELECT count(*) FROM marts.mart_churn_risk WHERE churn_probability IS NULL")
    assert unscored == [(0,)]
    assert f"prod is built as of {DEMO_END}" in result.stdout
