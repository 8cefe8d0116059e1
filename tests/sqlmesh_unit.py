"""SQLMesh unit tests built in Python: rows derived from the project's own definitions.

A YAML unit test restates every number it tests. A boundary test must instead read the threshold
from project.yaml, so that moving a threshold moves the rows with it; this builds the same test
body SQLMesh reads from YAML and runs it with SQLMesh's own runner on its test connection.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmesh import Context
from sqlmesh.core.test import ModelTestMetadata, run_tests

from churnmesh.settings import data_paths
from churnmesh.warehouse import CHURN_MODEL_ENV, sqlmesh_context

DATA_DIR_ENV = "CHURNMESH_DATA_DIR"

Rows = list[dict[str, Any]]


@contextmanager
def project_context(data_dir: Path) -> Iterator[Context]:
    """The project's SQLMesh context; unit tests run on SQLMesh's in-memory test connection,
    so the data folder stays empty. The settings the context puts in the environment are put
    back, so that the test files run after these in one process see what they would alone."""
    saved = {name: os.environ.get(name) for name in (DATA_DIR_ENV, CHURN_MODEL_ENV)}
    try:
        with sqlmesh_context(data_paths(data_dir), churn_model="none") as context:
            yield context
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_model_test(
    context: Context,
    name: str,
    model: str,
    inputs: dict[str, Rows],
    expected: Rows,
    variables: dict[str, Any] | None = None,
) -> None:
    """Run one SQLMesh unit test of `model`: the query's output must hold `expected` (only the
    columns named there are compared, in any row order); fails with SQLMesh's own diff."""
    body: dict[str, Any] = {
        "model": model,
        "inputs": {table: {"rows": rows} for table, rows in inputs.items()},
        "outputs": {"query": {"partial": True, "rows": expected}},
    }
    if variables:
        body["vars"] = variables
    test = ModelTestMetadata(path=Path(f"{name}.yaml"), test_name=name, body=body)
    report = io.StringIO()
    result = run_tests(
        model_test_metadata=[test],
        models=context._models,
        config=context.config,
        selected_gateway=context.selected_gateway,
        dialect=context.default_dialect,
        stream=report,
        default_catalog=context.default_catalog,
        default_catalog_dialect=context.config.dialect or "",
    )
    assert result.testsRun == 1, report.getvalue()
    problems = [str(problem) for _, problem in result.failures + result.errors]
    assert result.wasSuccessful(), "\n".join(problems) or report.getvalue()
