MODEL (
  name marts.mart_retention_cohorts,
  signals [data_complete()],
  kind FULL,
  grain (cohort_month, months_since_acquisition),
  description 'Signup-month cohorts (from the history_start variable on) by months since acquisition, up to the as-of month. A customer is retained in a month when they have revenue that month (a purchase or a subscription charge). Revenue retention is the cohort''s net revenue in the month over its revenue in its first month.',
  column_descriptions (
    cohort_month = 'Month of signup',
    months_since_acquisition = '0 for the signup month',
    cohort_customers = 'Customers who signed up in the cohort month',
    customers_retained = 'Of them, customers with revenue in this month',
    retention_rate = 'customers_retained / cohort_customers',
    revenue_usd = 'Net revenue of the cohort in this month',
    revenue_retention = 'revenue_usd / revenue of month 0; null when month 0 had none',
    activity_month = 'Calendar month of the activity (first day)'
  ),
  audits (
    no_pii_columns,
    unique_combination_of_columns(columns := (cohort_month, months_since_acquisition)),
    not_null(columns := (cohort_month, months_since_acquisition, cohort_customers, retention_rate)),
    rate_between_0_and_1(column := retention_rate)
  )
);

WITH customers AS (
  SELECT customer_id, CAST(DATE_TRUNC('month', signup_date) AS DATE) AS cohort_month
  FROM core.dim_customers
  WHERE is_current AND signup_date >= CAST(@history_start AS DATE)
), cohort_sizes AS (
  SELECT cohort_month, COUNT(*) AS cohort_customers FROM customers GROUP BY ALL
), grid AS (
  SELECT
    s.cohort_month,
    s.cohort_customers,
    CAST(m AS DATE) AS activity_month,
    DATE_DIFF('month', s.cohort_month, CAST(m AS DATE)) AS months_since_acquisition
  FROM cohort_sizes AS s
  CROSS JOIN GENERATE_SERIES(s.cohort_month, CAST(DATE_TRUNC('month', @as_of_date()) AS DATE), INTERVAL 1 MONTH) AS t(m)
), activity AS (
  SELECT
    c.cohort_month,
    CAST(DATE_TRUNC('month', r.event_date) AS DATE) AS activity_month,
    COUNT(DISTINCT r.customer_id) FILTER (WHERE r.amount_usd > 0) AS customers_retained,
    SUM(r.amount_usd) AS revenue_usd
  FROM core.fct_revenue AS r
  JOIN customers AS c ON r.customer_id = c.customer_id
  WHERE r.event_date <= @as_of_date()
  GROUP BY ALL
)
SELECT
  g.cohort_month,
  g.months_since_acquisition,
  g.activity_month,
  g.cohort_customers,
  COALESCE(a.customers_retained, 0) AS customers_retained,
  COALESCE(a.customers_retained, 0) / g.cohort_customers AS retention_rate,
  ROUND(COALESCE(a.revenue_usd, 0), 2) AS revenue_usd,
  COALESCE(a.revenue_usd, 0) / NULLIF(FIRST_VALUE(COALESCE(a.revenue_usd, 0)) OVER (PARTITION BY g.cohort_month ORDER BY g.months_since_acquisition), 0) AS revenue_retention
FROM grid AS g
LEFT JOIN activity AS a
  ON g.cohort_month = a.cohort_month AND g.activity_month = a.activity_month
