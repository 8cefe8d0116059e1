"""Every warehouse model states its kind, grain, description, column descriptions and audits."""

from __future__ import annotations

import pytest

from churnmesh.settings import PROJECT_ROOT
from churnmesh.warehouse import Context


@pytest.fixture(scope="module")
def models() -> dict:
    context = Context(paths=str(PROJECT_ROOT))
    try:
        return {m.name: m for m in context.models.values() if not m.kind.is_external}
    finally:
        context.close()


def test_every_model_is_documented_and_audited(models: dict) -> None:
    problems = []
    for name, model in sorted(models.items()):
        columns = list(model.columns_to_types or {})
        undescribed = [c for c in columns if c not in (model.column_descriptions or {})]
        if not model.description:
            problems.append(f"{name}: no description")
        if not model.grains:
            problems.append(f"{name}: no grain")
        if not model.audits:
            problems.append(f"{name}: no audits")
        if undescribed:
            problems.append(f"{name}: columns without description: {', '.join(undescribed)}")
    assert problems == []


def test_every_layer_is_present(models: dict) -> None:
    layers = {name.split(".")[-2].strip('"') for name in models}
    assert layers == {"staging", "core", "intermediate", "metrics", "scoring", "marts"}
