MODEL (
  name staging.stg_order_versions,
  signals [data_complete()],
  kind VIEW,
  grain (order_id, _source_file, _row_number),
  description 'Every loaded version of every order line, before staging.stg_orders keeps the latest of each order. Incremental models read it to find the orders of their interval without deduplicating the whole history.',
  column_descriptions (
    order_id = 'As in staging.stg_orders',
    ordered_at = 'As in staging.stg_orders',
    order_date = 'As in staging.stg_orders',
    order_type = 'As in staging.stg_orders',
    original_order_id = 'As in staging.stg_orders',
    quantity = 'As in staging.stg_orders',
    unit_price_usd = 'As in staging.stg_orders',
    amount_usd = 'As in staging.stg_orders',
    country_code = 'As in staging.stg_orders',
    customer_id = 'As in staging.stg_orders',
    product_id = 'As in staging.stg_orders',
    category = 'As in staging.stg_orders',
    device_type = 'As in staging.stg_orders',
    order_channel = 'As in staging.stg_orders',
    city = 'As in staging.stg_orders',
    loyalty_points_earned = 'As in staging.stg_orders',
    exported_on = 'As in staging.stg_orders',
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
