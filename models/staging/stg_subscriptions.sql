MODEL (
  name staging.stg_subscriptions,
  signals [data_complete()],
  kind VIEW,
  grain (subscription_id, exported_on),
  description 'Subscription versions: one row per subscription and export date (creation, renewal, pause, auto-renew change, cancellation).',
  column_descriptions (
    status = 'active, paused or cancelled as of this version',
    end_date = 'Last day of service of a cancelled subscription',
    renewal_date = 'Next billing date (resume date while paused)',
    exported_on = 'Business date of the export file that carried this version',
    subscription_id = 'Subscription key (S + 8 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    plan_id = 'Subscription plan key',
    plan_name = 'Plan name',
    start_date = 'First day of the subscription',
    is_auto_renew = 'The subscription renews automatically'
  ),
  audits (
    unique_combination_of_columns(columns := (subscription_id, exported_on)),
    not_null(columns := (subscription_id, customer_id, plan_id, status, start_date)),
    accepted_values(column := status, is_in := ('active', 'paused', 'cancelled'))
  )
);

SELECT
  subscription_id,
  customer_id,
  plan_id,
  plan_name,
  status,
  start_date,
  end_date,
  renewal_date,
  is_auto_renew,
  @file_date(_source_file) AS exported_on
FROM raw.subscriptions
QUALIFY ROW_NUMBER() OVER (PARTITION BY subscription_id, @file_date(_source_file) ORDER BY _source_file DESC, _row_number DESC) = 1
