"""The benchmark scales and their targets. Data is generated once per scale and cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from churnmesh.generator import GeneratorConfig


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    start: date
    end: date
    description: str
    session_rate_scale: float = 1.0

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            customers=self.customers,
            start=self.start,
            end=self.end,
            seed=42,
            dirty_rate=0.0,
            session_rate_scale=self.session_rate_scale,
        )


# History starts where the project's history starts (project.yaml model_defaults.start), so that no
# scale builds empty intervals. S keeps 1 year of data inside that history.
SCALES = {
    "XS": Scale("XS", 500, date(2024, 1, 1), date(2025, 12, 31), "500 customers x 2 years (harness smoke check)"),
    "S": Scale("S", 10_000, date(2025, 1, 1), date(2025, 12, 31), "10,000 customers x 1 year"),
    "M": Scale("M", 100_000, date(2024, 1, 1), date(2025, 12, 31), "100,000 customers x 2 years"),
    # Twice the default app usage: at least 60 million order and session rows.
    "L": Scale("L", 500_000, date(2024, 1, 1), date(2025, 12, 31), "500,000 customers x 2 years", 2.0),
}

# Reported against, never asserted in tests. Seconds unless named otherwise.
TARGETS = {
    "M": {
        "full_pipeline_seconds": 120,
        "new_day_seconds": 10,
        "history_cost_ratio": 1.3,
        "dashboard_first_render_max_seconds": 1.0,
        "cli_help_seconds": 0.5,
        "cli_lookup_seconds": 0.5,
    },
    "L": {
        "full_pipeline_seconds": 600,
        "peak_rss_gb": 12,
        "history_cost_ratio": 1.3,
        "lookup_p95_ms": 20,
        "aggregation_median_ms": 200,
        "cli_help_seconds": 0.5,
        "cli_lookup_seconds": 0.5,
    },
}
