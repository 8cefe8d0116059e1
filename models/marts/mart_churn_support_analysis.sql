MODEL (
  name marts.mart_churn_support_analysis,
  signals [data_complete()],
  kind FULL,
  grain (dimension, bucket),
  description 'Churn against support experience, as of the as-of date: for each dimension (tickets in the last 90 days, average resolution time, average CSAT, most frequent issue type) and each of its buckets, the customers, how many are churned or at high risk, and the rates. Customers past onboarding only.',
  column_descriptions (
    dimension = 'tickets_90d, avg_resolution, avg_csat or top_issue_type',
    churn_rate = 'Churned customers / customers in the bucket',
    high_risk_rate = 'Customers at high rule-based risk / customers in the bucket',
    bucket = 'Bucket of the dimension',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    customers = 'Number of customers',
    churned_customers = 'Customers in the churned lifecycle stage'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_combination_of_columns(columns := (dimension, bucket)),
    not_null(columns := (dimension, bucket, customers, churn_rate)),
    rate_between_0_and_1(column := churn_rate),
    rate_between_0_and_1(column := high_risk_rate)
  )
);

WITH top_issue AS (
  SELECT customer_id, issue_type
  FROM core.fct_support_tickets
  GROUP BY customer_id, issue_type
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY COUNT(*) DESC, issue_type) = 1
), customers AS (
  SELECT
    f.customer_id,
    l.lifecycle_stage = 'churned' AS is_churned,
    l.risk_level = 'high' AS is_high_risk,
    CASE WHEN f.tickets_90d = 0 THEN '0' WHEN f.tickets_90d = 1 THEN '1' WHEN f.tickets_90d <= 3 THEN '2-3' ELSE '4+' END AS tickets_bucket,
    CASE
      WHEN f.avg_resolution_hours_90d IS NULL THEN 'no closed tickets'
      WHEN f.avg_resolution_hours_90d < 4 THEN 'under 4h'
      WHEN f.avg_resolution_hours_90d < 24 THEN '4-24h'
      ELSE 'over 24h'
    END AS resolution_bucket,
    CASE
      WHEN f.avg_csat_90d IS NULL THEN 'no score'
      WHEN f.avg_csat_90d <= 2 THEN '1-2'
      WHEN f.avg_csat_90d < 4 THEN '2-4'
      ELSE '4-5'
    END AS csat_bucket,
    COALESCE(t.issue_type, 'no tickets') AS issue_bucket
  FROM intermediate.int_customer_features AS f
  JOIN intermediate.int_customer_lifecycle AS l ON f.customer_id = l.customer_id
  LEFT JOIN top_issue AS t ON f.customer_id = t.customer_id
  WHERE l.lifecycle_stage <> 'onboarding'
), long AS (
  SELECT 'tickets_90d' AS dimension, tickets_bucket AS bucket, is_churned, is_high_risk FROM customers
  UNION ALL
  SELECT 'avg_resolution', resolution_bucket, is_churned, is_high_risk FROM customers
  UNION ALL
  SELECT 'avg_csat', csat_bucket, is_churned, is_high_risk FROM customers
  UNION ALL
  SELECT 'top_issue_type', issue_bucket, is_churned, is_high_risk FROM customers
)
SELECT
  dimension,
  bucket,
  @as_of_date() AS as_of_date,
  COUNT(*) AS customers,
  COUNT(*) FILTER (WHERE is_churned) AS churned_customers,
  COUNT(*) FILTER (WHERE is_churned) / COUNT(*) AS churn_rate,
  COUNT(*) FILTER (WHERE is_high_risk) / COUNT(*) AS high_risk_rate
FROM long
GROUP BY dimension, bucket
