MODEL (
  name staging.stg_orders,
  kind VIEW,
  grain order_id,
  description 'Order lines, purchases and refunds, one row per order (the latest export of each).',
  column_descriptions (
    order_id = 'Order key',
    ordered_at = 'Order timestamp (UTC)',
    order_date = 'Order date',
    order_type = 'purchase or refund',
    original_order_id = 'For a refund: the purchase it refunds',
    quantity = 'Units; negative for a refund',
    unit_price_usd = 'Unit price in USD (exact decimal, so sums do not depend on row order)',
    amount_usd = 'quantity x unit price: positive for purchases, negative for refunds',
    country_code = 'ISO 3166-1 alpha-2 country of delivery',
    customer_id = 'Customer key (C + 7 digits)',
    product_id = 'Product key (P + 3 digits)',
    category = 'Product category',
    device_type = 'mobile, desktop or tablet',
    order_channel = 'web, app, marketplace or phone',
    city = 'City',
    loyalty_points_earned = 'Loyalty points the order earned',
    exported_on = 'Business date of the export file that carried the row'
  ),
  audits (
    unique_values(columns := (order_id)),
    not_null(columns := (order_id, customer_id, ordered_at, amount_usd))
  )
);

SELECT
  order_id,
  customer_id,
  order_datetime AS ordered_at,
  CAST(order_datetime AS DATE) AS order_date,
  order_type,
  original_order_id,
  product_id,
  product_category AS category,
  quantity,
  CAST(unit_price_usd AS DECIMAL(12, 2)) AS unit_price_usd,
  CAST(ROUND(quantity * unit_price_usd, 2) AS DECIMAL(14, 2)) AS amount_usd,
  device_type,
  order_channel,
  city,
  country AS country_code,
  loyalty_points_earned,
  @file_date(_source_file) AS exported_on
FROM raw.orders
QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY _source_file DESC, _row_number DESC) = 1
