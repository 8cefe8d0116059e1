"""Where churnmesh keeps its data. Everything lives under one directory.

`CHURNMESH_DATA_DIR` (default `./data`, relative to the working directory) holds:
landing/ (raw export files), warehouse.duckdb (the warehouse), state.duckdb (SQLMesh state)
and outputs/ (reports, exports).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "seeds"


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def state(self) -> Path:
        return self.root / "state.duckdb"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"


def safe_run_name(run_name: str) -> str:
    """A flow run's name as it may appear in a file name: letters, digits, '-' and '_', at most 80."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in run_name)[:80] or "run"


def data_paths(root: str | Path | None = None) -> DataPaths:
    """Resolve the data directory: explicit argument, then $CHURNMESH_DATA_DIR, then ./data."""
    chosen = root if root is not None else os.environ.get("CHURNMESH_DATA_DIR", "data")
    return DataPaths(Path(chosen).expanduser().resolve())


@cache
def business_definitions() -> dict[str, Any]:
    """The business definitions (churn window, risk thresholds, CLV horizon...), written once as
    the `variables` of the SQLMesh config and read from there by Python code too."""
    config = yaml.safe_load((PROJECT_ROOT / "project.yaml").read_text())
    return dict(config["variables"])
