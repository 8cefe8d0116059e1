MODEL (
  name marts.mart_revenue_at_risk_by_segment,
  signals [data_complete()],
  kind FULL,
  grain (rfm_segment, value_tier, churn_risk_level),
  description 'Revenue at risk (churn probability x predicted CLV, macro @revenue_at_risk) by RFM segment, value tier and churn risk level, as of the as-of date, over open customers only: customers already churned are left out, their predicted CLV is lost (lost_clv_usd in marts.mart_churn_risk), not at risk. The total equals the sum of revenue_at_risk_usd over marts.mart_churn_risk and marts.mart_customer_360. churn_risk_level is unscored while no churn model is live.',
  column_descriptions (
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    rfm_segment = 'RFM segment (marts.mart_customer_segments)',
    value_tier = 'high, medium or low lifetime value',
    churn_risk_level = 'high, medium, low, or unscored',
    customers = 'Open (not churned) customers in the group',
    mean_churn_probability = 'Mean churn probability of the group',
    predicted_clv_usd = 'Sum of predicted CLV over the horizon',
    revenue_at_risk_usd = 'Sum of churn probability x predicted CLV over the group''s customers',
    share_of_revenue_at_risk = 'The group''s share of all revenue at risk'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_combination_of_columns(columns := (rfm_segment, value_tier, churn_risk_level)),
    not_null(columns := (rfm_segment, value_tier, churn_risk_level, customers))
  )
);

WITH open_customers AS (
  SELECT *
  FROM marts.mart_customer_360
  WHERE lifecycle_stage <> 'churned'
), grouped AS (
  SELECT
    MAX(as_of_date) AS as_of_date,
    rfm_segment,
    value_tier,
    COALESCE(churn_risk_level, 'unscored') AS churn_risk_level,
    COUNT(*) AS customers,
    -- decimals: a sum of doubles depends on row order, and a rebuild must give the same mart
    AVG(CAST(churn_probability AS DECIMAL(12, 6))) AS mean_churn_probability,
    SUM(CAST(predicted_clv_usd AS DECIMAL(18, 2))) AS predicted_clv_usd,
    SUM(CAST(revenue_at_risk_usd AS DECIMAL(18, 2))) AS revenue_at_risk_usd
  FROM open_customers
  GROUP BY rfm_segment, value_tier, COALESCE(churn_risk_level, 'unscored')
)
SELECT
  *,
  revenue_at_risk_usd / NULLIF(SUM(revenue_at_risk_usd) OVER (), 0) AS share_of_revenue_at_risk
FROM grouped
