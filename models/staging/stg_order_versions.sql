MODEL (
  name staging.stg_order_versions,
  kind VIEW,
  grain (order_id, _source_file, _row_number),
  description 'Every loaded version of every order line, before staging.stg_orders keeps the latest of each order. Incremental models read it to find the orders of their interval without deduplicating the whole history.',
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
    exported_on = 'Business date of the export file that carried the row',
    _source_file = 'Landing file that carried this version (relative to the landing folder)',
    _row_number = 'Row of this version in its landing file'
  ),
  audits (
    not_null(columns := (order_id, customer_id, ordered_at, amount_usd, _source_file, _row_number))
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
  @file_date(_source_file) AS exported_on,
  _source_file,
  _row_number
FROM raw.orders
