MODEL (
  name core.fct_loyalty,
  signals [data_complete()],
  kind FULL,
  grain (customer_id, snapshot_date),
  description 'Loyalty balance snapshots up to the as-of date, with how long each balance held.',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    snapshot_date = 'Day the balance changed',
    points_balance = 'Loyalty points balance',
    loyalty_tier = 'bronze, silver, gold or platinum',
    next_snapshot_date = 'Day of the next balance change; null for the latest'
  ),
  audits (
    unique_combination_of_columns(columns := (customer_id, snapshot_date)),
    not_null(columns := (customer_id, snapshot_date, points_balance)),
    value_not_negative(column := points_balance),
    customer_in_dim_customers
  )
);

SELECT
  l.customer_id,
  l.snapshot_date,
  l.points_balance,
  l.loyalty_tier,
  LEAD(l.snapshot_date) OVER (PARTITION BY l.customer_id ORDER BY l.snapshot_date) AS next_snapshot_date
FROM staging.stg_loyalty_balances AS l
SEMI JOIN core.dim_customers AS c
  ON l.customer_id = c.customer_id
WHERE l.snapshot_date <= @as_of_date()
