"""Shared fixtures: small generated datasets, written once per test session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from churnmesh.generator import GeneratorConfig, generate

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
