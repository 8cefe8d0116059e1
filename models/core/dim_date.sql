MODEL (
  name core.dim_date,
  signals [data_complete()],
  kind FULL,
  grain date_day,
  description 'One row per calendar day from the earliest signup to the as-of date.',
  column_descriptions (
    date_day = 'Calendar day',
    year = 'Calendar year',
    quarter = 'Quarter 1-4',
    month = 'Month number 1-12',
    month_start = 'First day of the month',
    quarter_start = 'First day of the quarter',
    iso_weekday = 'ISO weekday, 1 = Monday',
    is_weekend = 'Saturday or Sunday'
  ),
  audits (unique_values(columns := (date_day)), not_null(columns := (date_day)))
);

SELECT
  CAST(d AS DATE) AS date_day,
  YEAR(d) AS year,
  QUARTER(d) AS quarter,
  MONTH(d) AS month,
  CAST(DATE_TRUNC('month', d) AS DATE) AS month_start,
  CAST(DATE_TRUNC('quarter', d) AS DATE) AS quarter_start,
  ISODOW(d) AS iso_weekday,
  ISODOW(d) >= 6 AS is_weekend
FROM GENERATE_SERIES(
  (SELECT MIN(signup_date) FROM staging.stg_customers),
  @as_of_date(),
  INTERVAL 1 DAY
) AS t(d)
