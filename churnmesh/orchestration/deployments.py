"""The deployments `make serve` shows in the Prefect UI, and the warehouse's writer limit.

Each deployment is named for its flow and its trigger (`daily-refresh/daily-refresh-nightly`,
`backfill/backfill-on-demand`) and tagged by what it touches. A custom run's form asks only for
the user's own parameters: the data folder and the project are the server's (CHURNMESH_DATA_DIR,
CHURNMESH_PROJECT_DIR), not a run's choice.

Only one flow run may write the warehouse at a time: every writing flow holds a slot of the
global concurrency limit WAREHOUSE_LIMIT (limit 1), so a second run waits for the first instead
of colliding with its DuckDB write lock. The limit is created when the deployments are served.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import serve
from prefect.schedules import Cron

from churnmesh.orchestration.flows import (
    TIMEZONE_ENV,
    backfill_flow,
    daily_refresh,
    ensure_warehouse_limit,
    review_change_flow,
    run_audits_flow,
    train_churn_model,
)

# Parameters a deployment's run form does not offer: where the data and the project are.
SERVER_PARAMETERS = ("data_dir", "project")


def deployments(timezone: str) -> list[Any]:
    def deployment(flow: Any, trigger: str, tag: str, description: str, cron: str | None = None) -> Any:
        schedules = [Cron(cron, timezone=timezone)] if cron else None
        made = flow.to_deployment(
            f"{flow.name}-{trigger}", schedules=schedules, description=description, tags=["churnmesh", tag]
        )
        return for_operators(made)

    return [
        deployment(
            daily_refresh, "nightly", "warehouse", "Ingest, SQLMesh run, alerts, reports, daily at 02:30", "30 2 * * *"
        ),
        deployment(run_audits_flow, "nightly", "audits", "Every audit against prod, daily at 03:30", "30 3 * * *"),
        deployment(
            train_churn_model,
            "weekly",
            "model",
            "A churn model version, Sundays at 04:00 (prod switches through a reviewed plan)",
            "0 4 * * 0",
        ),
        deployment(backfill_flow, "on-demand", "warehouse", "Backfill or restate dates through SQLMesh intervals"),
        deployment(review_change_flow, "on-demand", "review", "Plan into an environment, diff its marts with prod"),
    ]


def for_operators(deployment: Any) -> Any:
    """The deployment without the server's own parameters in its run form."""
    schema = deployment._parameter_openapi_schema
    for name in SERVER_PARAMETERS:
        schema.properties.pop(name, None)
        if schema.required and name in schema.required:
            schema.required.remove(name)
    return deployment


def serve_deployments() -> None:
    """Blocks: runs scheduled and triggered flow runs in this process's machine until stopped."""
    timezone = os.environ.get(TIMEZONE_ENV, "UTC")
    ensure_warehouse_limit()
    serve(*deployments(timezone))
