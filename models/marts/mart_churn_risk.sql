MODEL (
  name marts.mart_churn_risk,
  kind FULL,
  grain customer_id,
  description 'Rule-based churn risk per customer as of the as-of date, with revenue at risk: the net revenue of the last 90 days annualised, plus twelve months of subscription revenue, weighted by the risk score (score / 100). Predicted churn probability and CLV replace these proxies when scoring lands.',
  column_descriptions (
    annual_value_usd = 'Net revenue of the last 90 days x 365/90 + 12 x monthly recurring revenue',
    revenue_at_risk_usd = 'annual_value_usd x risk_score / 100',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    lifecycle_stage = 'onboarding, active, dormant or churned',
    risk_score = 'Rule-based churn risk 0-100',
    risk_level = 'high, medium or low (thresholds in config.yaml)',
    primary_risk_reason = 'The largest contributor to the risk score, in words',
    recency_days = 'Days since the last purchase; null if none',
    revenue_90d = 'Net order revenue in the 90 days ending on the as-of date',
    mrr_usd = 'Monthly recurring revenue of active subscriptions'
  ),
  audits (
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, risk_score, risk_level, revenue_at_risk_usd)),
    value_not_negative(column := revenue_at_risk_usd)
  )
);

SELECT
  l.customer_id,
  l.as_of_date,
  l.lifecycle_stage,
  l.risk_score,
  l.risk_level,
  l.primary_risk_reason,
  f.recency_days,
  f.revenue_90d,
  f.mrr_usd,
  GREATEST(0, f.revenue_90d * 365.0 / 90 + 12 * f.mrr_usd) AS annual_value_usd,
  ROUND(GREATEST(0, f.revenue_90d * 365.0 / 90 + 12 * f.mrr_usd) * l.risk_score / 100.0, 2) AS revenue_at_risk_usd
FROM intermediate.int_customer_lifecycle AS l
JOIN intermediate.int_customer_features AS f
  ON l.customer_id = f.customer_id
