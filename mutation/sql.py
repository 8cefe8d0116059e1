"""Curated mutations of the SQLMesh models, each run against the model tests.

Each mutation changes one spot of one model or macro the way a real edit goes wrong (an operator
flipped, a window one day off, a boundary made inclusive, a lookback dropped). It is applied to a
copy of the project, then `sqlmesh test` runs there, then the pytest files that test the models
(SQL_TESTS); a mutation is killed when either fails, and survives when both pass. A mutation
whose text is not found exactly once in its file is an error: the list must follow the models.

    python -m mutation.sql [--only NAME ...] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# What a copy of the project needs to plan and test the models (not the data, not the git history).
COPIED = ("churnmesh", "models", "macros", "audits", "seeds", "signals", "tests", "config.py", "project.yaml")
COPIED += ("external_models.yaml", "pyproject.toml")
SQL_TESTS = ("tests/test_sql_boundaries.py",)
TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class SqlMutation:
    name: str
    path: str
    before: str
    after: str


LIFECYCLE = "models/intermediate/int_customer_lifecycle.sql"
FEATURES = "models/intermediate/int_customer_features.sql"
MUTATIONS = (
    SqlMutation(
        "risk-high-strict", LIFECYCLE, "risk_score >= @risk_high_threshold", "risk_score > @risk_high_threshold"
    ),
    SqlMutation(
        "risk-medium-strict", LIFECYCLE, "risk_score >= @risk_medium_threshold", "risk_score > @risk_medium_threshold"
    ),
    SqlMutation(
        "risk-medium-is-high", LIFECYCLE, "risk_score >= @risk_medium_threshold", "risk_score >= @risk_high_threshold"
    ),
    SqlMutation(
        "onboarding-inclusive", LIFECYCLE, "f.tenure_days < @onboarding_days", "f.tenure_days <= @onboarding_days"
    ),
    SqlMutation(
        "churn-strict", LIFECYCLE, "f.days_inactive >= @churn_inactive_days", "f.days_inactive > @churn_inactive_days"
    ),
    SqlMutation(
        "dormant-strict",
        LIFECYCLE,
        "f.tenure_days) >= @dormant_inactive_days",
        "f.tenure_days) > @dormant_inactive_days",
    ),
    SqlMutation("spend-drop-inclusive", LIFECYCLE, "revenue_trend < 0.5", "revenue_trend <= 0.5"),
    SqlMutation("spend-drop-cutoff", LIFECYCLE, "revenue_trend < 0.5", "revenue_trend < 0.4"),
    SqlMutation("session-drop-inclusive", LIFECYCLE, "session_trend < 0.5", "session_trend <= 0.5"),
    SqlMutation("support-points-per-ticket", LIFECYCLE, "10 * low_csat_tickets_30d", "5 * low_csat_tickets_30d"),
    SqlMutation("tickets-89d", FEATURES, "t.opened_date > a.as_of_date - 90", "t.opened_date > a.as_of_date - 89"),
    SqlMutation("tickets-91d", FEATURES, "t.opened_date > a.as_of_date - 90", "t.opened_date > a.as_of_date - 91"),
    SqlMutation(
        "csat-window-89d",
        FEATURES,
        "AVG(t.csat_score) FILTER (WHERE t.closed_date > a.as_of_date - 90)",
        "AVG(t.csat_score) FILTER (WHERE t.closed_date > a.as_of_date - 89)",
    ),
    SqlMutation(
        "low-csat-30d-inclusive",
        FEATURES,
        "t.closed_date > a.as_of_date - 30 AND t.csat_score <= 2",
        "t.closed_date >= a.as_of_date - 30 AND t.csat_score <= 2",
    ),
    SqlMutation("low-csat-threshold", FEATURES, "t.csat_score <= 2", "t.csat_score < 2"),
    SqlMutation(
        "purchases-30d-window",
        FEATURES,
        "SUM(m.purchases) FILTER (WHERE m.activity_date > a.as_of_date - 30)",
        "SUM(m.purchases) FILTER (WHERE m.activity_date > a.as_of_date - 31)",
    ),
    SqlMutation(
        "revenue-30d-window",
        FEATURES,
        "SUM(m.net_revenue_usd) FILTER (WHERE m.activity_date > a.as_of_date - 30)",
        "SUM(m.net_revenue_usd) FILTER (WHERE m.activity_date >= a.as_of_date - 30)",
    ),
    SqlMutation("signup-after-as-of", FEATURES, "d.signup_date <= a.as_of_date", "d.signup_date < a.as_of_date"),
    SqlMutation(
        "fct-orders-no-lookback",
        "models/core/fct_orders.sql",
        "    lookback @late_data_lookback_days",
        "    lookback 0",
    ),
    SqlMutation(
        "fct-sessions-no-lookback",
        "models/core/fct_sessions.sql",
        "    lookback @late_data_lookback_days",
        "    lookback 0",
    ),
    SqlMutation(
        "retention-floor-strict",
        "macros/risk.py",
        "exp.GTE(this=at_risk, expression=floor)",
        "exp.GT(this=at_risk, expression=floor)",
    ),
    SqlMutation(
        "retention-includes-churned",
        "macros/risk.py",
        "exp.and_(exp.Not(this=_is_churned(lifecycle_stage)), exp.paren(at_stake))",
        "exp.paren(at_stake)",
    ),
)


@dataclass(frozen=True)
class Outcome:
    mutation: SqlMutation
    killed_by: str | None  # "sqlmesh test" or a pytest file; None when it survived
    seconds: float


def mutated(mutation: SqlMutation, project: Path = ROOT) -> str:
    """The mutated file's text; an error unless the text to change is in it exactly once."""
    text = (project / mutation.path).read_text()
    found = text.count(mutation.before)
    if found != 1:
        raise ValueError(f"{mutation.name}: {mutation.before!r} is in {mutation.path} {found} times, not once")
    return text.replace(mutation.before, mutation.after)


def copy_project(into: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))
        else:
            shutil.copy2(source, into / name)
    return into


def _passes(command: Sequence[str], project: Path) -> bool:
    # PYTHONPATH puts the copy's package ahead of the editable install of this checkout.
    env = os.environ | {"PYTHONPATH": str(project), "CHURNMESH_DATA_DIR": str(project / "data")}
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    return done.returncode == 0


def run(mutation: SqlMutation) -> Outcome:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"sql-mutant-{mutation.name}-") as tmp:
        project = copy_project(Path(tmp))
        (project / mutation.path).write_text(mutated(mutation, project))
        checks = [("sqlmesh test", [str(BIN / "sqlmesh"), "test"])]
        checks += [(test, [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", test]) for test in SQL_TESTS]
        killed_by = next((name for name, command in checks if not _passes(command, project)), None)
    return Outcome(mutation, killed_by, time.monotonic() - started)


def clean_run() -> None:
    """The unmutated project must pass every check, or no mutation's outcome means anything."""
    with tempfile.TemporaryDirectory(prefix="sql-mutant-clean-") as tmp:
        project = copy_project(Path(tmp))
        for command in (
            [str(BIN / "sqlmesh"), "test"],
            [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", *SQL_TESTS],
        ):
            if not _passes(command, project):
                raise SystemExit(f"the unmutated project fails {' '.join(command[-1:])}: fix that first")


def report(outcomes: Sequence[Outcome]) -> str:
    survivors = [o for o in outcomes if o.killed_by is None]
    lines = [f"SQL mutations: {len(outcomes)}, killed {len(outcomes) - len(survivors)}, survived {len(survivors)}"]
    lines += [
        f"  {'SURVIVED' if o.killed_by is None else 'killed  '} {o.mutation.name:<28} {o.mutation.path}"
        + (f"  (by {o.killed_by})" if o.killed_by else "")
        for o in outcomes
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--workers", type=int, default=2, help="mutations run at once (default 2)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no mutation named {', '.join(sorted(unknown))}")
    for mutation in chosen:  # every mutation applies before any runs
        mutated(mutation)
    clean_run()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        outcomes = list(pool.map(run, chosen))
    print(report(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
