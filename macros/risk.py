"""Revenue at risk, value lost to churn and retention eligibility: each defined here once.

Every mart that reports money at risk computes it with these macros, so that summing the column
of any of them gives the same figure without a filter of its own.
"""

from __future__ import annotations

from sqlglot import exp
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

# A plain string: SQLMesh serialises the globals a macro uses, and a sqlglot node is not one it can.
CHURNED_STAGE = "churned"


def _is_churned(lifecycle_stage: exp.Expression) -> exp.Expression:
    # A missing stage (no lifecycle row) is not churned: its value is still at risk.
    return exp.func("COALESCE", exp.EQ(this=lifecycle_stage, expression=exp.Literal.string(CHURNED_STAGE)), exp.false())


def _round_money(value: exp.Expression) -> exp.Expression:
    return exp.func("ROUND", value, exp.Literal.number(2))


@macro()
def revenue_at_risk(
    evaluator: MacroEvaluator, probability: exp.Expression, value: exp.Expression, lifecycle_stage: exp.Expression
) -> exp.Expression:
    """Revenue at risk: churn probability x value (predicted CLV), for open customers only.

    A customer already churned has nothing left at risk (0): that value is lost, and is reported
    by @lost_to_churn instead. Null while the probability is unknown (no churn model is live)."""
    at_risk = _round_money(exp.Mul(this=exp.paren(probability), expression=exp.paren(value)))
    return exp.case().when(_is_churned(lifecycle_stage), exp.Literal.number(0)).else_(at_risk)


@macro()
def lost_to_churn(evaluator: MacroEvaluator, value: exp.Expression, lifecycle_stage: exp.Expression) -> exp.Expression:
    """Value lost to churn: the whole value (predicted CLV) of a customer already churned, 0 for
    anyone else. The churn model scores churned customers at probability 1, so this is what the
    model would have counted as at risk for them."""
    return exp.case().when(_is_churned(lifecycle_stage), _round_money(value)).else_(exp.Literal.number(0))


@macro()
def retention_eligible(
    evaluator: MacroEvaluator,
    risk_level: exp.Expression,
    at_risk: exp.Expression,
    lifecycle_stage: exp.Expression,
) -> exp.Expression:
    """Eligible for the retention campaign: an open customer whose risk level is high or medium, or
    who has at least retention_min_revenue_at_risk_usd (project.yaml) at risk whatever the level.

    The level catches the likely leavers; the value catches the customers worth most, whose
    probability is moderate but whose loss would cost more than that of several likely leavers."""
    floor = exp.Literal.number(evaluator.var("retention_min_revenue_at_risk_usd"))
    levels = exp.In(this=risk_level, expressions=[exp.Literal.string("high"), exp.Literal.string("medium")])
    at_stake = exp.or_(levels, exp.GTE(this=at_risk, expression=floor))
    condition = exp.and_(exp.Not(this=_is_churned(lifecycle_stage)), exp.paren(at_stake))
    # A null level or value (unscored) means not eligible, never an unknown flag.
    return exp.func("COALESCE", exp.paren(condition), exp.false())
