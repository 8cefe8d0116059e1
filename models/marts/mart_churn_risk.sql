MODEL (
  name marts.mart_churn_risk,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Churn risk per customer as of the as-of date: the trained model''s churn probability (within churn_horizon_days), level and reasons, with revenue at risk = churn probability x predicted CLV over clv_horizon_days for open customers (macro @revenue_at_risk): a customer already churned has 0 at risk, and their predicted CLV is lost_clv_usd, the value lost to churn (macro @lost_to_churn). Summing revenue_at_risk_usd needs no filter and gives the figure of every other mart and summary. The rule-based score and its revenue proxy (net revenue of the last 90 days annualised plus twelve months of subscription revenue, x score / 100, by the same open-customers rule) stay alongside as the baseline. Model columns are null while no churn model is live (churn_model_version none).',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    lifecycle_stage = 'onboarding, active, dormant or churned',
    churn_probability = 'Calibrated probability of churn within churn_horizon_days (scoring.churn_scores)',
    churn_risk_level = 'high, medium or low from churn_probability x 100 and the risk thresholds of project.yaml',
    churn_reasons = 'Up to three reasons, strongest first, separated by ''; ''',
    primary_churn_reason = 'The strongest of churn_reasons',
    model_version = 'The churn model version that produced the score',
    predicted_clv_usd = 'Predicted CLV over clv_horizon_days (scoring.clv_predictions)',
    revenue_at_risk_usd = 'churn_probability x predicted_clv_usd for an open customer, 0 for a churned one (macro @revenue_at_risk); null while no churn model is live',
    lost_clv_usd = 'Value lost to churn: predicted_clv_usd of a churned customer, 0 for anyone else (macro @lost_to_churn)',
    risk_score = 'Rule-based churn risk 0-100 (the baseline)',
    risk_level = 'Rule-based level: high, medium or low (thresholds in project.yaml)',
    primary_risk_reason = 'The largest contributor to the rule-based score, in words',
    recency_days = 'Days since the last purchase; null if none',
    days_inactive = 'Days since the last purchase or session',
    revenue_90d = 'Net order revenue in the 90 days ending on the as-of date',
    mrr_usd = 'Monthly recurring revenue of active subscriptions',
    annual_value_usd = 'Net revenue of the last 90 days x 365/90 + 12 x monthly recurring revenue',
    rule_revenue_at_risk_usd = 'annual_value_usd x risk_score / 100 for an open customer, 0 for a churned one: the rule-based proxy for revenue at risk'
  ),
  audits (
    as_of_is_the_runs_day,
    scored_when_a_model_is_live,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, risk_score, risk_level, rule_revenue_at_risk_usd, predicted_clv_usd, lost_clv_usd)),
    value_not_negative(column := rule_revenue_at_risk_usd),
    value_not_negative(column := revenue_at_risk_usd),
    value_not_negative(column := lost_clv_usd)
  )
);

SELECT
  l.customer_id,
  l.as_of_date,
  l.lifecycle_stage,
  s.churn_probability,
  s.churn_risk_level,
  s.churn_reasons,
  s.primary_churn_reason,
  s.model_version,
  c.predicted_clv_usd,
  @revenue_at_risk(s.churn_probability, c.predicted_clv_usd, l.lifecycle_stage) AS revenue_at_risk_usd,
  @lost_to_churn(c.predicted_clv_usd, l.lifecycle_stage) AS lost_clv_usd,
  l.risk_score,
  l.risk_level,
  l.primary_risk_reason,
  f.recency_days,
  f.days_inactive,
  f.revenue_90d,
  f.mrr_usd,
  GREATEST(0, f.revenue_90d * 365.0 / 90 + 12 * f.mrr_usd) AS annual_value_usd,
  @revenue_at_risk(
    l.risk_score / 100.0,
    GREATEST(0, f.revenue_90d * 365.0 / 90 + 12 * f.mrr_usd),
    l.lifecycle_stage
  ) AS rule_revenue_at_risk_usd
FROM intermediate.int_customer_lifecycle AS l
JOIN intermediate.int_customer_features AS f
  ON l.customer_id = f.customer_id
JOIN scoring.clv_predictions AS c
  ON l.customer_id = c.customer_id
LEFT JOIN scoring.churn_scores AS s
  ON l.customer_id = s.customer_id AND s.as_of_date = l.as_of_date
