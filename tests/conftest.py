"""Shared fixtures: small generated datasets, written once per test session."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from churnmesh.generator import GeneratorConfig, generate
from churnmesh.ingestion import ingest
from churnmesh.scoring.train_warehouse import TrainedVersion, train_from_warehouse
from churnmesh.settings import DataPaths
from churnmesh.warehouse import build_prod

SMALL_DIRTY = GeneratorConfig(customers=400, start=date(2024, 1, 1), end=date(2024, 4, 30), seed=7, dirty_rate=0.03)
SMALL_CLEAN = GeneratorConfig(customers=300, start=date(2024, 1, 1), end=date(2024, 2, 29), seed=11)


@pytest.fixture(scope="session")
def dirty_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dirty") / "landing"
    generate(SMALL_DIRTY, out)
    return out


@pytest.fixture(scope="session")
def clean_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "landing"
    generate(SMALL_CLEAN, out)
    return out


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


# Long enough for the churn model's time split (training, calibration and test windows of
# 90 + 60 days each); the files of two more days are there for daily runs after the build.
SCORED_AS_OF = date(2025, 7, 31)
SCORED_HISTORY = GeneratorConfig(customers=700, start=date(2024, 1, 1), end=SCORED_AS_OF + timedelta(days=2), seed=21)


@dataclass
class Scored:
    paths: DataPaths
    trained: TrainedVersion


@pytest.fixture(scope="session")
def scored_base(tmp_path_factory: pytest.TempPathFactory) -> Scored:
    """A warehouse built as of SCORED_AS_OF, with a churn model trained and live. Copy it
    (scored_copy) before changing anything: it is shared by every test of the run."""
    # Under pytest-xdist each worker has its own base temp folder below a common one; the first
    # worker to get here builds the warehouse there, the others wait for it and read it.
    shared = tmp_path_factory.getbasetemp().parent if _under_xdist() else tmp_path_factory.getbasetemp()
    root, built = shared / "scored_base", shared / "scored_base.json"
    with (shared / "scored_base.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            _build_scored(DataPaths(root / "data"), built)
    record = json.loads(built.read_text())
    card = json.loads((Path(record["folder"]) / "card.json").read_text())
    return Scored(DataPaths(root / "data"), TrainedVersion(record["version"], Path(record["folder"]), card))


def _under_xdist() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def _build_scored(paths: DataPaths, record: Path) -> None:
    shutil.rmtree(paths.root, ignore_errors=True)  # what a build killed half way left
    generate(SCORED_HISTORY, paths.landing)
    ingest(paths.landing, paths.warehouse)
    build_prod(paths, SCORED_AS_OF)
    trained = train_from_warehouse(paths, SCORED_AS_OF)
    build_prod(paths, SCORED_AS_OF, churn_model=trained.version)
    record.write_text(json.dumps({"version": trained.version, "folder": str(trained.folder)}))


def scored_copy(base: Scored, root: Path) -> Scored:
    paths = DataPaths(root / "data")
    shutil.copytree(base.paths.root, paths.root)
    folder = paths.root / base.trained.folder.relative_to(base.paths.root)
    return Scored(paths, TrainedVersion(base.trained.version, folder, base.trained.card))
