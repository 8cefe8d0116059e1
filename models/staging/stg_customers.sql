MODEL (
  name staging.stg_customers,
  signals [data_complete()],
  kind VIEW,
  grain (customer_id, exported_on),
  description 'Customer profile versions as exported: one row per customer and export date. A move or an opt-out re-appears as a new version.',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    signed_up_at = 'Signup timestamp (UTC)',
    signup_date = 'Signup date',
    country_code = 'ISO 3166-1 alpha-2 country',
    marketing_opt_in = 'Consent to marketing as of this version',
    updated_at = 'When the profile changed to this version (UTC)',
    exported_on = 'Business date of the export file that carried this version',
    first_name = 'First name (personal data)',
    last_name = 'Last name (personal data)',
    email = 'Email address (personal data)',
    gender = 'female, male, non_binary or undisclosed',
    date_of_birth = 'Date of birth (personal data)',
    city = 'City'
  ),
  audits (
    unique_combination_of_columns(columns := (customer_id, exported_on)),
    not_null(columns := (customer_id, exported_on, signed_up_at))
  )
);

SELECT
  customer_id,
  first_name,
  last_name,
  email,
  gender,
  date_of_birth,
  signup_datetime AS signed_up_at,
  CAST(signup_datetime AS DATE) AS signup_date,
  city,
  country AS country_code,
  marketing_opt_in,
  updated_at,
  @file_date(_source_file) AS exported_on
FROM raw.customers
QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id, @file_date(_source_file) ORDER BY updated_at DESC, _source_file DESC, _row_number DESC) = 1
