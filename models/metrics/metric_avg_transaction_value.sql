MODEL (
  name metrics.metric_avg_transaction_value,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Purchase amount statistics per customer with at least one purchase by the as-of date: mean, standard deviation, min, max, median and a consistency class from the coefficient of variation (consistent < 0.5 <= variable < 1 <= erratic; single purchase: single_purchase).',
  column_descriptions (
    coefficient_of_variation = 'Sample standard deviation / mean; null with one purchase',
    consistency = 'consistent, variable, erratic or single_purchase',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    purchases = 'Purchase orders',
    mean_usd = 'Mean purchase amount',
    stddev_usd = 'Sample standard deviation of purchase amounts; null with one purchase',
    min_usd = 'Smallest purchase amount',
    max_usd = 'Largest purchase amount',
    median_usd = 'Median purchase amount'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, purchases, mean_usd, consistency)),
    value_not_negative(column := min_usd)
  )
);

WITH stats AS (
  SELECT
    customer_id,
    COUNT(*) AS purchases,
    AVG(amount_usd) AS mean_usd,
    -- from exact decimal sums, so the result does not depend on row order
    SQRT(GREATEST(SUM(amount_usd * amount_usd) - SUM(amount_usd) * SUM(amount_usd) / COUNT(*), 0) / NULLIF(COUNT(*) - 1, 0)) AS stddev_usd,
    MIN(amount_usd) AS min_usd,
    MAX(amount_usd) AS max_usd,
    MEDIAN(amount_usd) AS median_usd
  FROM core.fct_orders
  WHERE order_type = 'purchase' AND order_date <= @as_of_date()
  GROUP BY customer_id
)
SELECT
  customer_id,
  @as_of_date() AS as_of_date,
  purchases,
  CAST(ROUND(mean_usd, 2) AS DECIMAL(14, 2)) AS mean_usd,
  CAST(ROUND(stddev_usd, 2) AS DECIMAL(14, 2)) AS stddev_usd,
  min_usd,
  max_usd,
  CAST(ROUND(median_usd, 2) AS DECIMAL(14, 2)) AS median_usd,
  ROUND(stddev_usd / NULLIF(mean_usd, 0), 4) AS coefficient_of_variation,
  CASE
    WHEN purchases = 1 THEN 'single_purchase'
    WHEN stddev_usd / NULLIF(mean_usd, 0) < 0.5 THEN 'consistent'
    WHEN stddev_usd / NULLIF(mean_usd, 0) < 1 THEN 'variable'
    ELSE 'erratic'
  END AS consistency
FROM stats
