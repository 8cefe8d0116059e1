MODEL (
  name staging.stg_orders,
  signals [data_complete()],
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

SELECT * EXCLUDE (_source_file, _row_number)
FROM staging.stg_order_versions
QUALIFY @latest_version(order_id)
