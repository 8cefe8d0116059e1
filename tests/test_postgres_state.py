"""The postgres_state gateway: the warehouse stays in DuckDB, SQLMesh state goes to PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from churnmesh.ingestion import ingest
from churnmesh.settings import DataPaths
from churnmesh.warehouse import build_prod
from tests.helpers import query

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _postgres_available() -> bool:
    try:
        psycopg2.connect(connect_timeout=3, **PG).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture
def state_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not _postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, and CI must run this test")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    schema = f"churnmesh_test_{uuid.uuid4().hex[:10]}"
    for name, value in {
        "CHURNMESH_PG_HOST": PG["host"],
        "CHURNMESH_PG_PORT": str(PG["port"]),
        "CHURNMESH_PG_USER": PG["user"],
        "CHURNMESH_PG_DATABASE": PG["dbname"],
        "CHURNMESH_PG_STATE_SCHEMA": schema,
    }.items():
        monkeypatch.setenv(name, value)
    yield schema
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_plan_and_run_keep_their_state_in_postgres(state_schema: str, clean_landing: Path, tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    ingest(clean_landing, paths.warehouse)
    result = build_prod(paths, date(2024, 2, 15), gateway="postgres_state")
    assert result.mart_rows["marts.mart_churn_risk"] > 0
    assert not paths.state.exists(), "state went to DuckDB instead of PostgreSQL"
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [state_schema])
        assert cur.fetchone()[0] > 0
        cur.execute(f'SELECT count(*) FROM "{state_schema}"._snapshots')
        assert cur.fetchone()[0] > 20
    # A second run for the next day reads that state back and adds one interval.
    build_prod(paths, date(2024, 2, 16), gateway="postgres_state")
    assert query(paths.warehouse, "SELECT DISTINCT as_of_date FROM marts.mart_churn_risk") == [(date(2024, 2, 16),)]
