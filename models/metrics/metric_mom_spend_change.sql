MODEL (
  name metrics.metric_mom_spend_change,
  signals [data_complete()],
  kind FULL,
  grain (customer_id, month_start),
  description 'Net spend per customer and calendar month (purchases minus refunds), the prior month, and the change, for every month up to the as-of month in which the customer spent in that month or the one before. The as-of month may be partial (is_partial_month).',
  column_descriptions (
    spend_usd = 'Net order spend in the month',
    prior_month_spend_usd = 'Net order spend in the month before (0 if none)',
    change_pct = '(spend - prior) / prior x 100; null when the prior month had no spend',
    trend = 'new (no prior spend), lapsed (no spend now), growing (> +10%), declining (< -10%), stable',
    customer_id = 'Customer key (C + 7 digits)',
    month_start = 'First day of the month',
    is_partial_month = 'The month is the as-of month and is not over yet'
  ),
  audits (
    no_pii_columns,
    unique_combination_of_columns(columns := (customer_id, month_start)),
    not_null(columns := (customer_id, month_start, spend_usd, prior_month_spend_usd, trend)),
    accepted_values(column := trend, is_in := ('new', 'lapsed', 'growing', 'declining', 'stable'))
  )
);

WITH monthly AS (
  SELECT customer_id, CAST(DATE_TRUNC('month', order_date) AS DATE) AS month_start, SUM(amount_usd) AS spend_usd
  FROM core.fct_orders
  WHERE order_date <= @as_of_date()
  GROUP BY ALL
), months AS (
  -- each month with spend, and the month after it (where the spend may have lapsed)
  SELECT customer_id, month_start FROM monthly
  UNION
  SELECT customer_id, CAST(month_start + INTERVAL 1 MONTH AS DATE) FROM monthly
  WHERE month_start + INTERVAL 1 MONTH <= @as_of_date()
), compared AS (
  SELECT
    m.customer_id,
    m.month_start,
    COALESCE(cur.spend_usd, 0) AS spend_usd,
    COALESCE(prev.spend_usd, 0) AS prior_month_spend_usd
  FROM months AS m
  LEFT JOIN monthly AS cur
    ON m.customer_id = cur.customer_id AND m.month_start = cur.month_start
  LEFT JOIN monthly AS prev
    ON m.customer_id = prev.customer_id AND m.month_start = CAST(prev.month_start + INTERVAL 1 MONTH AS DATE)
)
SELECT
  customer_id,
  month_start,
  ROUND(spend_usd, 2) AS spend_usd,
  ROUND(prior_month_spend_usd, 2) AS prior_month_spend_usd,
  ROUND(100.0 * (spend_usd - prior_month_spend_usd) / NULLIF(prior_month_spend_usd, 0), 2) AS change_pct,
  CASE
    WHEN prior_month_spend_usd <= 0 AND spend_usd > 0 THEN 'new'
    WHEN prior_month_spend_usd > 0 AND spend_usd <= 0 THEN 'lapsed'
    WHEN spend_usd > prior_month_spend_usd * 1.1 THEN 'growing'
    WHEN spend_usd < prior_month_spend_usd * 0.9 THEN 'declining'
    ELSE 'stable'
  END AS trend,
  month_start = CAST(DATE_TRUNC('month', @as_of_date()) AS DATE) AND LAST_DAY(@as_of_date()) <> @as_of_date() AS is_partial_month
FROM compared
