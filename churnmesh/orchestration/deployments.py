"""The deployments `make serve` shows in the Prefect UI, and the warehouse's writer limit.

Only one flow run may write the warehouse at a time: every writing flow holds a slot of the
global concurrency limit WAREHOUSE_LIMIT (limit 1), so a second run waits for the first instead
of colliding with its DuckDB write lock. The limit is created when the deployments are served.
"""

from __future__ import annotations

import contextlib
import os

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.schedules import Cron

from churnmesh.orchestration.flows import (
    WAREHOUSE_LIMIT,
    backfill_flow,
    daily_refresh,
    review_change_flow,
    run_audits_flow,
    train_churn_model,
)

TIMEZONE_ENV = "CHURNMESH_TIMEZONE"


def ensure_warehouse_limit() -> None:
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=WAREHOUSE_LIMIT, limit=1))


def deployments(timezone: str) -> list:
    return [
        daily_refresh.to_deployment(
            "nightly", schedules=[Cron("30 2 * * *", timezone=timezone)], description="Daily refresh at 02:30"
        ),
        run_audits_flow.to_deployment(
            "nightly", schedules=[Cron("30 3 * * *", timezone=timezone)], description="Every audit at 03:30"
        ),
        train_churn_model.to_deployment(
            "weekly", schedules=[Cron("0 4 * * 0", timezone=timezone)], description="Churn model, Sundays 04:00"
        ),
        backfill_flow.to_deployment("manual", description="Backfill or restate dates through SQLMesh intervals"),
        review_change_flow.to_deployment("manual", description="Plan into an environment and diff its marts"),
    ]


def serve_deployments() -> None:
    """Blocks: runs scheduled and triggered flow runs in this process's machine until stopped."""
    timezone = os.environ.get(TIMEZONE_ENV, "UTC")
    ensure_warehouse_limit()
    serve(*deployments(timezone))
