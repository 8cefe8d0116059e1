MODEL (
  name staging.seed_regions,
  kind SEED (path '../../seeds/regions.csv'),
  grain (city, country),
  description 'Cities with their country and sales region (reference data).',
  columns (city TEXT, country TEXT, country_name TEXT, region TEXT, weight INT),
  audits (unique_combination_of_columns(columns := (city, country)))
);
