"""`churnmesh mcp`: the marts' answers for AI assistants, over the Model Context Protocol.

The server speaks MCP over stdio (what desktop assistants and IDEs launch) or, with `--port`,
streamable HTTP on 127.0.0.1. Its tools are read-only and typed; each opens the latest
publication (publication.py) for the length of one call, so the server never holds the warehouse
and never blocks a refresh, and it answers from the refresh that finished last. Arguments are
checked by churnmesh.parameters; a refusal comes back as a tool error with the message. The
answers (answers.py) carry the as-of date and data watermark they describe. There is no raw SQL
tool: the publication holds no personal data and the tools cannot reach anything else.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from churnmesh import __version__, answers, parameters
from churnmesh.publication import NotPublished, open_published
from churnmesh.settings import DataPaths, data_paths

SERVER_NAME = "churnmesh"
INSTRUCTIONS = (
    "churnmesh answers customer value and churn questions from its marts: KPIs (list_kpis, get_kpi), "
    "churned customers, customers at risk and why, revenue at risk by segment, support root causes, "
    "cohort retention, app version impact, one customer's profile, the churn model's card, and what each "
    "business term means (explain_definition). Every answer says the as-of date it describes. "
    "Segments: " + ", ".join(parameters.SEGMENT_DIMENSIONS) + "."
)
SEGMENT_HELP = (
    "a segment dimension to break the answer down by (e.g. value_tier), or dimension=value to keep "
    "one segment (e.g. plan_tier=premium); dimensions: " + ", ".join(parameters.SEGMENT_DIMENSIONS)
)
Segment = Annotated[str | None, Field(description=SEGMENT_HELP)]
SegmentFilter = Annotated[
    str | None, Field(description="dimension=value to keep one segment (e.g. plan_tier=premium), or none")
]
Answer = dict[str, Any]


def cmd_mcp(args: argparse.Namespace) -> int:
    server = build_server(data_paths())
    # stdout is the protocol channel; the SDK's request log would only add noise on stderr.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    if args.port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    return 0


def build_server(paths: DataPaths) -> Any:
    """The server with every tool and resource, reading the publication of `paths`."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ToolError
    from mcp.types import ToolAnnotations

    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    read_only = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

    def answer(question: Callable[..., Answer], *args: Any, **kwargs: Any) -> Answer:
        try:
            with open_published(paths) as con:
                return question(con, *args, **kwargs)
        except (ValueError, NotPublished) as exc:  # InvalidParameter is a ValueError
            raise ToolError(str(exc)) from None

    def tool(fn: Callable[..., Answer]) -> Callable[..., Answer]:
        return server.tool(annotations=read_only, structured_output=True)(fn)

    @tool
    def list_kpis() -> Answer:
        """The KPIs get_kpi answers: name, description, unit, whether each is a snapshot as of the
        as-of date, and whether it has a series by calendar month (by_month)."""
        return answer(answers.list_kpis)

    @tool
    def get_kpi(
        name: Annotated[str, Field(description="a KPI name from list_kpis, e.g. revenue_at_risk_usd")],
        period: Annotated[
            str | None,
            Field(
                description="KPIs by month: YYYY-MM for one month, 'monthly' for the series (snapshot KPIs with "
                "by_month: their value at each month end); default the as-of month or date"
            ),
        ] = None,
        segment: Segment = None,
    ) -> Answer:
        """One KPI (LTV, ATV, month-over-month spend, predicted CLV, revenue at risk, active and churned
        customers...): its total, its value per segment, or one segment's value; monthly KPIs by month."""
        return answer(answers.get_kpi, name, period, segment)

    @tool
    def top_root_causes(
        period: Annotated[
            str, Field(description="last_month, last_quarter (complete on the as-of date), YYYY-MM or YYYY-Qn")
        ] = "last_month",
        n: Annotated[int, Field(description=f"how many rows, 1 to {answers.MAX_ROWS}")] = 5,
        category: Annotated[str | None, Field(description="a product category, or no_product")] = None,
    ) -> Answer:
        """Support tickets' top root causes by product category in a month or quarter: tickets, share of
        the period's tickets, share still open, CSAT satisfaction rate, mean and median resolution hours."""
        return answer(answers.top_root_causes, period, n, category)

    @tool
    def churned_customers(
        window_days: Annotated[int, Field(description="churned within this many days ending on the as-of date")] = 30,
        segment: SegmentFilter = None,
        order_by: Annotated[
            str, Field(description="lost_clv_usd, historical_ltv_usd, predicted_clv_usd or churned_date")
        ] = "lost_clv_usd",
        limit: Annotated[int, Field(description=f"rows to return, 1 to {answers.MAX_ROWS}")] = 50,
    ) -> Answer:
        """Customers who churned in the last window_days (see explain_definition('churned in the last n
        days')), with their value: lifetime revenue, predicted CLV lost, segment; and the total lost."""
        return answer(answers.churned_customers, window_days, segment, order_by, limit)

    @tool
    def top_at_risk(
        n: Annotated[int, Field(description=f"how many customers, 1 to {answers.MAX_ROWS}")] = 20,
        segment: SegmentFilter = None,
        level: Annotated[str | None, Field(description="high, medium or low churn risk level")] = None,
    ) -> Answer:
        """Open customers ranked by revenue at risk (churn probability x predicted CLV), with the churn
        model's probability, risk level and reasons."""
        return answer(answers.top_at_risk, n, segment, level)

    @tool
    def customer_profile(
        customer_id: Annotated[str, Field(description="C and 7 digits, e.g. C0000042")],
    ) -> Answer:
        """One customer's 360 (no personal data): activity, subscription, loyalty, segment, lifecycle,
        churn probability with reasons, predicted CLV, revenue at risk, and the churn score history."""
        return answer(answers.customer_profile, customer_id)

    @tool
    def revenue_at_risk(
        by: Annotated[str, Field(description="segment dimension: " + ", ".join(parameters.SEGMENT_DIMENSIONS))] = (
            "rfm_segment"
        ),
    ) -> Answer:
        """Revenue at risk, value lost to churn and mean churn probability per segment, with the total."""
        return answer(answers.revenue_at_risk, by)

    @tool
    def cohort_retention(
        cohort: Annotated[str | None, Field(description="a signup month YYYY-MM; default every cohort")] = None,
    ) -> Answer:
        """Retention by signup-month cohort: one cohort's curve month by month (customers retained,
        retention rate, revenue retention), or every cohort's retention after 1, 3, 6 and 12 months."""
        return answer(answers.cohort_retention, cohort)

    @tool
    def app_version_impact(
        version: Annotated[str | None, Field(description="an app version, e.g. 4.5.0; default every version")] = None,
    ) -> Answer:
        """Per mobile app version: users, tickets per 100 users against the three versions before it, the
        churned share of its users, and whether its ticket rate is a spike."""
        return answer(answers.app_version_impact, version)

    @tool
    def explain_definition(
        term: Annotated[str, Field(description="e.g. churn, active, risk level, clv horizon, revenue at risk")],
    ) -> Answer:
        """What a business term means in these numbers, with its thresholds from the project's
        configuration (churn, active, risk levels, churn and CLV horizons, revenue at risk...)."""
        return answer(answers.explain_definition, term)

    @tool
    def model_card() -> Answer:
        """The live churn model's card: version, training dates, features, ROC-AUC, calibration, lift
        and the rule-based baseline it is compared with."""
        return answer(answers.model_card)

    @server.resource("churnmesh://tables", mime_type="application/json", description="The published tables")
    def tables() -> list[str]:
        try:
            with open_published(paths) as con:
                return answers.published_tables(con)
        except NotPublished as exc:
            raise ResourceError(str(exc)) from None

    @server.resource(
        "churnmesh://schema/{table}",
        mime_type="application/json",
        description="A published table (schema.table, e.g. marts.mart_churn_risk): its columns and descriptions",
    )
    def schema(table: str) -> Answer:
        try:
            with open_published(paths) as con:
                return answers.table_schema(con, table)
        except (ValueError, NotPublished) as exc:
            raise ResourceError(str(exc)) from None

    return server
