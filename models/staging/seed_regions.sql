MODEL (
  name staging.seed_regions,
  kind SEED (path '../../seeds/regions.csv'),
  grain (city, country),
  description 'Cities with their country and sales region (reference data).',
  columns (city TEXT, country TEXT, country_name TEXT, region TEXT, weight INT),
  column_descriptions (
    city = 'City',
    country = 'ISO 3166-1 alpha-2 country',
    country_name = 'Country name',
    region = 'Sales region',
    weight = 'Relative share of customers the generator places in the city'
  ),
  audits (unique_combination_of_columns(columns := (city, country)))
);
