MODEL (
  name staging.stg_loyalty_balances,
  signals [data_complete()],
  kind VIEW,
  grain (customer_id, snapshot_date),
  description 'Loyalty point balance and tier, one row per customer on each day the balance changed.',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    snapshot_date = 'Day the balance changed',
    points_balance = 'Loyalty points balance',
    loyalty_tier = 'bronze, silver, gold or platinum'
  ),
  audits (
    unique_combination_of_columns(columns := (customer_id, snapshot_date)),
    not_null(columns := (customer_id, snapshot_date, points_balance))
  )
);

SELECT
  customer_id,
  snapshot_date,
  points_balance,
  loyalty_tier
FROM raw.loyalty_balances
QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id, snapshot_date ORDER BY _source_file DESC, _row_number DESC) = 1
