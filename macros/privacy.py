"""Macros that keep personal data out of the marts: age bands in place of dates of birth, and
the list of columns no mart may carry (for audits/no_pii_columns.sql)."""

from __future__ import annotations

import itertools

from sqlglot import exp, parse_one
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

from churnmesh.contracts import pii_kept_out_of_marts

# The classification lives in churnmesh/contracts.py. Taken as a plain tuple at load time, so
# SQLMesh records the list itself in the audited models' snapshots: a change to the
# classification shows in the next plan.
PII_KEPT_OUT_OF_MARTS = pii_kept_out_of_marts()

# Lower bounds of the age bands, in whole years. The first band is everyone younger than the first
# bound, the last everyone from the last bound up.
AGE_BAND_BOUNDS = (18, 25, 35, 45, 55, 65)
UNKNOWN_AGE_BAND = "unknown"


def age_band_labels() -> tuple[str, ...]:
    """Every label @age_band can give, youngest first, then the label for an unknown age."""
    bounds = AGE_BAND_BOUNDS
    middle = [f"{low}-{high - 1}" for low, high in itertools.pairwise(bounds)]
    return (f"under {bounds[0]}", *middle, f"{bounds[-1]}+", UNKNOWN_AGE_BAND)


# Whole years from date of birth to the as-of date: the YYYYMMDD numbers differ by at least
# 10000 once the birthday has come that year (29 February birthdays count from 1 March).
_AGE_YEARS_SQL = (
    "FLOOR((YEAR(:as_of) * 10000 + MONTH(:as_of) * 100 + DAY(:as_of)"
    " - (YEAR(:born) * 10000 + MONTH(:born) * 100 + DAY(:born))) / 10000)"
)


@macro()
def age_band(evaluator: MacroEvaluator, date_of_birth: exp.Expression, as_of: exp.Expression) -> exp.Expression:
    """The age band on `as_of` of someone born on `date_of_birth` ('unknown' when it is null)."""
    age = exp.replace_placeholders(parse_one(_AGE_YEARS_SQL), born=date_of_birth, as_of=as_of)
    *below_bounds, oldest, unknown = age_band_labels()
    case = exp.Case().when(date_of_birth.copy().is_(exp.null()), exp.Literal.string(unknown))
    for bound, label in zip(AGE_BAND_BOUNDS, below_bounds, strict=True):
        case = case.when(exp.paren(age.copy()) < bound, exp.Literal.string(label))
    return case.else_(exp.Literal.string(oldest))


@macro()
def pii_columns_kept_out_of_marts(evaluator: MacroEvaluator) -> list[exp.Expression]:
    """The names (lower case string literals) of the columns no mart may carry."""
    return [exp.Literal.string(name) for name in PII_KEPT_OUT_OF_MARTS]
