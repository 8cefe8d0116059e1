MODEL (
  name core.fct_orders,
  signals [data_complete()],
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    lookback @late_data_lookback_days -- late rows within the lookback are picked up by the next run
  ),
  grain order_id,
  description 'Order lines (purchases and refunds) of known customers, with product cost and margin. Rows whose customer has no profile are held in core.orphan_facts instead.',
  column_descriptions (
    amount_usd = 'Signed amount: positive for a purchase, negative for a refund',
    margin_usd = 'Signed gross margin: amount minus units x unit cost',
    order_id = 'Order key (O + 9 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    ordered_at = 'Order timestamp (UTC)',
    order_date = 'Order date',
    order_type = 'purchase or refund',
    original_order_id = 'For a refund: the purchase it refunds',
    product_id = 'Product key (P + 3 digits)',
    category = 'Product category',
    quantity = 'Units; negative for a refund',
    unit_price_usd = 'Unit price in USD',
    device_type = 'mobile, desktop or tablet',
    order_channel = 'web, app, marketplace or phone',
    city = 'City',
    country_code = 'ISO 3166-1 alpha-2 country',
    loyalty_points_earned = 'Loyalty points the order earned'
  ),
  audits (
    unique_values(columns := (order_id)),
    not_null(columns := (order_id, customer_id, order_date, amount_usd)),
    customer_in_dim_customers
  )
);

-- The rows of staging.stg_orders dated in the interval, without deduplicating the whole history:
-- the orders with a version dated in the interval, each at its latest version (which may be
-- dated elsewhere, and is then left out by the WHERE below).
WITH touched AS (
  SELECT DISTINCT order_id FROM staging.stg_order_versions WHERE order_date BETWEEN @start_ds AND @end_ds
), latest AS (
  SELECT v.* EXCLUDE (_source_file, _row_number)
  FROM staging.stg_order_versions AS v
  SEMI JOIN touched AS t
    ON v.order_id = t.order_id
  QUALIFY @latest_version(v.order_id)
)
SELECT
  o.order_id,
  o.customer_id,
  o.ordered_at,
  o.order_date,
  o.order_type,
  o.original_order_id,
  o.product_id,
  COALESCE(p.category, o.category) AS category,
  o.quantity,
  o.unit_price_usd,
  o.amount_usd,
  ROUND(o.amount_usd - o.quantity * COALESCE(p.unit_cost_usd, 0), 2) AS margin_usd,
  o.device_type,
  o.order_channel,
  o.city,
  o.country_code,
  o.loyalty_points_earned
FROM latest AS o
SEMI JOIN core.dim_customers AS c
  ON o.customer_id = c.customer_id
LEFT JOIN core.dim_products AS p
  ON o.product_id = p.product_id
WHERE o.order_date BETWEEN @start_ds AND @end_ds
