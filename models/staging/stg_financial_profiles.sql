MODEL (
  name staging.stg_financial_profiles,
  signals [data_complete()],
  kind VIEW,
  grain (customer_id, effective_date),
  description 'Financial profile versions: income and credit score, one row per customer and effective date.',
  column_descriptions (
    effective_date = 'Date from which this profile applies',
    income_usd = 'Declared yearly income (USD), may be null',
    credit_score = 'Credit score 300-850, may be null',
    customer_id = 'Customer key (C + 7 digits)',
    exported_on = 'Business date of the export file that carried the row'
  ),
  audits (
    unique_combination_of_columns(columns := (customer_id, effective_date)),
    not_null(columns := (customer_id, effective_date))
  )
);

SELECT
  customer_id,
  profile_effective_date AS effective_date,
  income_usd,
  credit_score,
  @file_date(_source_file) AS exported_on
FROM raw.financial_profiles
QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id, profile_effective_date ORDER BY _source_file DESC, _row_number DESC) = 1
