MODEL (
  name core.dim_geography,
  signals [data_complete()],
  kind FULL,
  grain (city, country_code),
  description 'Cities with country and sales region: the reference list plus any city seen in customer profiles or orders (region "Unknown" until added to seeds/regions.csv).',
  column_descriptions (
    city = 'City',
    country_code = 'ISO 3166-1 alpha-2 country',
    country_name = 'Country name',
    region = 'Sales region'
  ),
  audits (unique_combination_of_columns(columns := (city, country_code)), not_null(columns := (city, country_code, region)))
);

WITH seen AS (
  SELECT city, country_code FROM staging.stg_customers
  UNION
  SELECT city, country_code FROM staging.stg_orders
)
SELECT
  COALESCE(r.city, s.city) AS city,
  COALESCE(r.country, s.country_code) AS country_code,
  COALESCE(r.country_name, s.country_code) AS country_name,
  COALESCE(r.region, 'Unknown') AS region
FROM staging.seed_regions AS r
FULL OUTER JOIN seen AS s
  ON r.city = s.city AND r.country = s.country_code
