"""The business definitions in words, for people and assistants: what a number means.

The values and their explanations are the `variables` of project.yaml and the comments written
above them; nothing here restates a threshold. A term names the variables it rests on; its text is
the comment block of the group those variables belong to, followed by their current values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from churnmesh.settings import PROJECT_ROOT, business_definitions

# Each term an analyst asks about, and the project.yaml variables that define it.
TERMS: dict[str, tuple[str, ...]] = {
    "churn": ("churn_inactive_days",),
    "active": ("onboarding_days", "dormant_inactive_days", "churn_inactive_days"),
    "lifecycle stage": ("onboarding_days", "dormant_inactive_days", "churn_inactive_days"),
    "risk level": ("risk_high_threshold", "risk_medium_threshold"),
    "churn horizon": ("churn_horizon_days",),
    "clv horizon": ("clv_horizon_days", "clv_annual_discount_rate"),
    "revenue at risk": ("retention_min_revenue_at_risk_usd",),
    "retention campaign": ("retention_min_revenue_at_risk_usd",),
    "late data": ("late_data_lookback_days",),
    "freshness": ("freshness_allowance_days",),
    "history start": ("history_start",),
}
# Derived readings that rest on the terms above, stated once for every reader of the marts.
DERIVED: dict[str, str] = {
    "churned in the last n days": (
        "A customer churned in the last N days when they are churned on the as-of date and their"
        " churned_date (the first day of the current churn: the day inactivity reached churn_inactive_days,"
        " or the day after their last cancelled subscription ended if that was later) lies within the N days"
        " ending on the as-of date."
    ),
    "as-of date": (
        "The day the marts describe: the day before the run's execution time, never later than the data"
        " watermark (the last day every daily source has delivered a file for)."
    ),
}
ALIASES = {
    "churned": "churn",
    "risk levels": "risk level",
    "lifecycle": "lifecycle stage",
    "dormant": "lifecycle stage",
    "onboarding": "lifecycle stage",
    "clv": "clv horizon",
    "predicted clv": "clv horizon",
    "watermark": "as-of date",
    "data watermark": "as-of date",
    "churned in the last 30 days": "churned in the last n days",
    "churned in the last 90 days": "churned in the last n days",
}


@dataclass(frozen=True)
class Definition:
    term: str
    text: str
    variables: dict[str, object]


def terms() -> list[str]:
    return sorted([*TERMS, *DERIVED])


def explain(term: str) -> Definition:
    """The definition of `term` (case and spacing ignored); ValueError naming the known terms."""
    key = " ".join(term.lower().replace("_", " ").split())
    key = ALIASES.get(key, key)
    if key in DERIVED:
        return Definition(key, DERIVED[key], {})
    if key not in TERMS:
        raise ValueError(f"no definition of {term!r}: known terms are {', '.join(terms())}")
    values = business_definitions()
    names = TERMS[key]
    return Definition(key, config_comments()[names[0]], {name: values[name] for name in names})


@cache
def config_comments() -> dict[str, str]:
    """Each variable of project.yaml with the comment block of its group (the comment lines above
    the group's first variable; a variable with no comment of its own shares its group's)."""
    lines = (PROJECT_ROOT / "project.yaml").read_text().splitlines()
    start = lines.index("variables:") + 1
    comments: dict[str, str] = {}
    block: list[str] = []
    group = ""
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next top-level key
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
        elif match := re.match(r"\s+([a-z_]+):", line):
            if block:
                group, block = " ".join(block), []
            comments[match.group(1)] = group
    return comments
