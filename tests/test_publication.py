"""The publication for readers: prod's marts, whole, in a file no refresh ever waits for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from churnmesh import publication, watermark
from churnmesh.contracts import pii_kept_out_of_marts
from churnmesh.faults import CRASH_ENV
from churnmesh.settings import PROJECT_ROOT, DataPaths
from tests.conftest import SCORED_AS_OF, Scored, scored_copy
from tests.helpers import fingerprint


def test_the_publication_is_prod_table_for_table(scored_base: Scored) -> None:
    published = publication.published_path(scored_base.paths)
    con = duckdb.connect(str(published), read_only=True)
    try:
        tables = tuple(
            con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                "WHERE schema_name <> 'churnmesh' ORDER BY 1"
            ).fetchall()
        )
        names = tuple(t for (t,) in tables)
        as_of, mark, model = con.execute(
            "SELECT as_of_date, data_watermark, churn_model_version FROM churnmesh.about"
        ).fetchone()
        columns = {c for (c,) in con.execute("SELECT DISTINCT lower(column_name) FROM duckdb_columns()").fetchall()}
        described = con.execute(
            "SELECT count(*), count(comment) FROM duckdb_columns() WHERE table_name = 'mart_customer_360'"
        ).fetchone()
    finally:
        con.close()
    assert {"marts.mart_customer_360", "metrics.metric_customer_ltv", "scoring.churn_scores"} <= set(names)
    assert fingerprint(published, names) == fingerprint(scored_base.paths.warehouse, names)
    assert as_of == SCORED_AS_OF and model == scored_base.trained.version
    assert mark == watermark.of_warehouse(scored_base.paths.warehouse).day
    assert columns & set(pii_kept_out_of_marts()) == set()
    assert described[0] == described[1], "every column of the 360 keeps its description"


def test_readers_of_the_publication_never_block_a_refresh(scored_base: Scored, tmp_path: Path) -> None:
    paths = scored_copy(scored_base, tmp_path).paths
    reader = publication.open_published(paths)
    try:
        before = reader.execute("SELECT count(*) FROM marts.mart_customer_360").fetchone()
        writer = duckdb.connect(str(paths.warehouse))  # what a refresh opens: the reader is not in its way
        writer.execute("CREATE OR REPLACE TABLE marts.mart_customer_360_copy AS SELECT 1 AS x")
        writer.close()
        replaced = publication.publish(paths)  # and the next publication replaces the file under the reader
        assert replaced is not None and replaced.as_of == SCORED_AS_OF
        assert reader.execute("SELECT count(*) FROM marts.mart_customer_360").fetchone() == before
    finally:
        reader.close()


def test_a_publication_killed_before_the_swap_leaves_the_last_one_whole(scored_base: Scored, tmp_path: Path) -> None:
    paths = scored_copy(scored_base, tmp_path).paths
    published = publication.published_path(paths)
    last = published.read_bytes()
    script = "from churnmesh import publication, settings; publication.publish(settings.data_paths())"
    env = os.environ | {"CHURNMESH_DATA_DIR": str(paths.root), CRASH_ENV: "publication.before_swap"}
    killed = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT_ROOT, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert published.read_bytes() == last
    assert published.with_name(published.name + ".tmp").exists()
    redone = publication.publish(paths)
    assert redone is not None and not published.with_name(published.name + ".tmp").exists()
    con = publication.open_published(paths)
    try:
        assert con.execute("SELECT as_of_date FROM churnmesh.about").fetchone() == (SCORED_AS_OF,)
    finally:
        con.close()


def test_a_personal_data_column_in_a_mart_is_not_published(scored_base: Scored, tmp_path: Path) -> None:
    paths = scored_copy(scored_base, tmp_path).paths
    leaked = sorted(pii_kept_out_of_marts())[0]
    con = duckdb.connect(str(paths.warehouse))
    con.execute(f'CREATE VIEW marts.mart_leak AS SELECT 1 AS "{leaked}"')
    con.close()
    before = publication.published_path(paths).read_bytes()
    with pytest.raises(ValueError, match=f"marts.mart_leak carries personal data \\({leaked}\\)"):
        publication.publish(paths)
    assert publication.published_path(paths).read_bytes() == before


def test_nothing_is_published_before_prod_has_marts(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "data")
    paths.root.mkdir()
    duckdb.connect(str(paths.warehouse)).close()
    assert publication.publish(paths) is None
    assert not list((paths.root / "published").iterdir())
    with pytest.raises(publication.NotPublished, match="run `churnmesh pipeline` first"):
        publication.open_published(paths)
