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
    def cron(expression: str) -> list[Cron]:
        return [Cron(expression, timezone=timezone)]

    return [
        for_operators(
            daily_refresh.to_deployment(
                "daily-refresh-nightly",
                schedules=cron("30 2 * * *"),
                description="Ingest, SQLMesh run, alerts and reports, daily at 02:30",
                tags=["churnmesh", "warehouse"],
            )
        ),
        for_operators(
            run_audits_flow.to_deployment(
                "run-audits-nightly",
                schedules=cron("30 3 * * *"),
                description="Every audit against prod, daily at 03:30",
                tags=["churnmesh", "audits"],
            )
        ),
        for_operators(
            train_churn_model.to_deployment(
                "train-churn-model-weekly",
                schedules=cron("0 4 * * 0"),
                description="A churn model version, Sundays at 04:00 (prod switches through a reviewed plan)",
                tags=["churnmesh", "model"],
            )
        ),
        for_operators(
            backfill_flow.to_deployment(
                "backfill-on-demand",
                description="Backfill or restate dates through SQLMesh intervals",
                tags=["churnmesh", "warehouse"],
            )
        ),
        for_operators(
            review_change_flow.to_deployment(
                "review-change-on-demand",
                description="Plan into an environment and diff its marts against prod",
                tags=["churnmesh", "review"],
            )
        ),
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
