MODEL (
  name staging.seed_products,
  kind SEED (path '../../seeds/products.csv'),
  grain product_id,
  description 'Products with category, list price and unit cost (reference data).',
  columns (product_id TEXT, product_name TEXT, category TEXT, list_price_usd DECIMAL(10, 2), unit_cost_usd DECIMAL(10, 2)),
  column_descriptions (
    product_id = 'Product key (P + 3 digits)',
    product_name = 'Product name',
    category = 'Product category',
    list_price_usd = 'List price in USD',
    unit_cost_usd = 'Unit cost in USD'
  ),
  audits (unique_values(columns := (product_id)), not_null(columns := (product_id, category)))
);
