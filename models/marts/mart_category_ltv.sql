MODEL (
  name marts.mart_category_ltv,
  signals [data_complete()],
  kind FULL,
  grain favourite_category,
  description 'Lifetime value and purchase frequency of customers grouped by their favourite category, as of the as-of date (customers with at least one purchase).',
  column_descriptions (
    favourite_category = 'Category with the highest net spend ever (ties: alphabetical)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    customers = 'Number of customers',
    avg_ltv_usd = 'Mean historical lifetime value in USD',
    median_ltv_usd = 'Median historical lifetime value in USD',
    total_ltv_usd = 'Sum of historical lifetime value in USD',
    avg_purchases_per_month = 'Mean purchases per 30 days of tenure',
    avg_order_value_usd = 'Mean purchase amount in USD'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_values(columns := (favourite_category)),
    not_null(columns := (favourite_category, customers, avg_ltv_usd))
  )
);

SELECT
  f.favourite_category,
  MAX(c.as_of_date) AS as_of_date,
  COUNT(*) AS customers,
  ROUND(AVG(c.historical_clv_usd), 2) AS avg_ltv_usd,
  ROUND(MEDIAN(c.historical_clv_usd), 2) AS median_ltv_usd,
  ROUND(SUM(c.historical_clv_usd), 2) AS total_ltv_usd,
  ROUND(AVG(c.purchases_per_month), 3) AS avg_purchases_per_month,
  ROUND(AVG(c.average_order_value_usd), 2) AS avg_order_value_usd
FROM marts.mart_clv AS c
JOIN intermediate.int_customer_features AS f
  ON c.customer_id = f.customer_id
WHERE c.purchases > 0 AND f.favourite_category IS NOT NULL
GROUP BY f.favourite_category
