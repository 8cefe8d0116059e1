MODEL (
  name marts.mart_churn_risk,
  kind FULL,
  grain customer_id,
  description 'Rule-based churn risk per customer as of the as-of date, with revenue at risk: the net revenue of the last 90 days annualised, plus twelve months of subscription revenue, weighted by the risk score (score / 100). Predicted churn probability and CLV replace these proxies when scoring lands.',
  column_descriptions (
    annual_value_usd = 'Net revenue of the last 90 days x 365/90 + 12 x monthly recurring revenue',
    revenue_at_risk_usd = 'annual_value_usd x risk_score / 100'
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
