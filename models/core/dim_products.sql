MODEL (
  name core.dim_products,
  signals [data_complete()],
  kind FULL,
  grain product_id,
  description 'Products with category, list price, unit cost and unit margin.',
  column_descriptions (
    product_id = 'Product key (P + 3 digits)',
    product_name = 'Product name',
    category = 'Product category',
    list_price_usd = 'List price in USD',
    unit_cost_usd = 'Unit cost in USD',
    unit_margin_usd = 'List price minus unit cost'
  ),
  audits (unique_values(columns := (product_id)), not_null(columns := (product_id, category)))
);

SELECT
  product_id,
  product_name,
  category,
  list_price_usd,
  unit_cost_usd,
  list_price_usd - unit_cost_usd AS unit_margin_usd
FROM staging.seed_products
