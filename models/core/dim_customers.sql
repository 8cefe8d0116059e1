MODEL (
  name core.dim_customers,
  signals [data_complete()],
  kind FULL,
  grain customer_version_key,
  description 'Customers as a slowly changing dimension (type 2): one row per version of the profile known by the as-of date. A version is valid from valid_from (inclusive) to valid_to (exclusive; null while current). Built from the exported version history, so a backfill reproduces what was known then.',
  column_descriptions (
    customer_version_key = 'Surrogate key of this version',
    version = '1 for the profile at signup, then +1 per change',
    valid_from = 'First day this version applies',
    valid_to = 'First day of the next version; null for the current one',
    is_current = 'True for the version in force on the as-of date',
    customer_id = 'Customer key (C + 7 digits)',
    first_name = 'First name (personal data)',
    last_name = 'Last name (personal data)',
    email = 'Email address (personal data)',
    gender = 'female, male, non_binary or undisclosed',
    date_of_birth = 'Date of birth (personal data)',
    signed_up_at = 'Signup timestamp (UTC)',
    signup_date = 'Signup date',
    city = 'City',
    country_code = 'ISO 3166-1 alpha-2 country',
    marketing_opt_in = 'Consent to marketing'
  ),
  audits (
    unique_values(columns := (customer_version_key)),
    unique_combination_of_columns(columns := (customer_id, version)),
    not_null(columns := (customer_id, valid_from)),
    one_current_version_per_customer
  )
);

WITH versions AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY exported_on) AS version,
    LEAD(exported_on) OVER (PARTITION BY customer_id ORDER BY exported_on) AS next_exported_on
  FROM staging.stg_customers
  WHERE exported_on <= @as_of_date()
)
SELECT
  MD5(customer_id || '|' || version) AS customer_version_key,
  customer_id,
  version,
  first_name,
  last_name,
  email,
  gender,
  date_of_birth,
  signed_up_at,
  signup_date,
  city,
  country_code,
  marketing_opt_in,
  CASE WHEN version = 1 THEN LEAST(signup_date, exported_on) ELSE exported_on END AS valid_from,
  next_exported_on AS valid_to,
  next_exported_on IS NULL AS is_current
FROM versions
