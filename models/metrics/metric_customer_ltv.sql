MODEL (
  name metrics.metric_customer_ltv,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Historical customer lifetime value as of the as-of date: all signed revenue events (purchases, refunds, subscription charges) per customer. The one definition of historical LTV; marts read it from here.',
  column_descriptions (
    ltv_usd = 'Net revenue to date: purchases - refunds + subscription charges',
    order_revenue_usd = 'Purchases minus refunds',
    subscription_revenue_usd = 'Subscription charges',
    purchases = 'Purchase orders to date',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    first_purchase_date = 'Day of the first purchase; null if none',
    last_purchase_date = 'Day of the last purchase; null if none'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, ltv_usd)),
    -- A refund whose purchase was rejected at ingestion can make it negative: warn, do not block.
    value_not_negative(column := ltv_usd, blocking := FALSE)
  )
);

SELECT
  d.customer_id,
  @as_of_date() AS as_of_date,
  COALESCE(SUM(r.amount_usd), 0) AS ltv_usd,
  COALESCE(SUM(r.amount_usd) FILTER (WHERE r.event_type IN ('purchase', 'refund')), 0) AS order_revenue_usd,
  COALESCE(SUM(r.amount_usd) FILTER (WHERE r.event_type = 'subscription_charge'), 0) AS subscription_revenue_usd,
  COUNT(r.revenue_event_id) FILTER (WHERE r.event_type = 'purchase') AS purchases,
  MIN(r.event_date) FILTER (WHERE r.event_type = 'purchase') AS first_purchase_date,
  MAX(r.event_date) FILTER (WHERE r.event_type = 'purchase') AS last_purchase_date
FROM core.dim_customers AS d
LEFT JOIN core.fct_revenue AS r
  ON d.customer_id = r.customer_id
WHERE d.is_current
GROUP BY d.customer_id
