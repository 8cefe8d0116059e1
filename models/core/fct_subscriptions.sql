MODEL (
  name core.fct_subscriptions,
  signals [data_complete()],
  kind FULL,
  grain subscription_id,
  description 'Subscriptions as they stood on the as-of date (their latest version exported by then), with plan price and monthly recurring revenue.',
  column_descriptions (
    status = 'active, paused or cancelled on the as-of date',
    mrr_usd = 'Monthly recurring revenue: the plan price normalised to 30 days while active, else 0',
    subscription_id = 'Subscription key (S + 8 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    plan_id = 'Subscription plan key',
    plan_name = 'Plan name',
    plan_tier = 'basic, plus or premium',
    start_date = 'First day of the subscription',
    end_date = 'Last day of service of a cancelled subscription',
    renewal_date = 'Next billing date (resume date while paused)',
    is_auto_renew = 'The subscription renews automatically',
    price_usd = 'Price per billing period in USD',
    last_changed_on = 'Export date of the version in force'
  ),
  audits (
    unique_values(columns := (subscription_id)),
    not_null(columns := (subscription_id, customer_id, plan_id, status)),
    accepted_values(column := status, is_in := ('active', 'paused', 'cancelled')),
    customer_in_dim_customers
  )
);

WITH latest AS (
  SELECT s.*
  FROM staging.stg_subscriptions AS s
  SEMI JOIN core.dim_customers AS c
    ON s.customer_id = c.customer_id
  WHERE s.exported_on <= @as_of_date()
  QUALIFY ROW_NUMBER() OVER (PARTITION BY s.subscription_id ORDER BY s.exported_on DESC) = 1
)
SELECT
  l.subscription_id,
  l.customer_id,
  l.plan_id,
  p.plan_name,
  p.plan_tier,
  l.status,
  l.start_date,
  l.end_date,
  l.renewal_date,
  l.is_auto_renew,
  p.price_usd,
  CASE WHEN l.status = 'active' THEN p.monthly_price_usd ELSE 0 END AS mrr_usd,
  l.exported_on AS last_changed_on
FROM latest AS l
LEFT JOIN core.dim_plans AS p
  ON l.plan_id = p.plan_id
