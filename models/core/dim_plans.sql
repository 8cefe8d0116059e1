MODEL (
  name core.dim_plans,
  signals [data_complete()],
  kind FULL,
  grain plan_id,
  description 'Subscription plans with price and the price normalised to 30 days (monthly recurring revenue per subscriber).',
  column_descriptions (
    plan_id = 'Subscription plan key',
    plan_name = 'Plan name',
    plan_tier = 'basic, plus or premium',
    billing_period = 'monthly or annual',
    billing_period_days = 'Days between charges',
    price_usd = 'Price per billing period in USD',
    monthly_price_usd = 'Price normalised to 30 days'
  ),
  audits (unique_values(columns := (plan_id)), not_null(columns := (plan_id, price_usd)))
);

SELECT
  plan_id,
  plan_name,
  plan_tier,
  billing_period,
  billing_period_days,
  price_usd,
  ROUND(price_usd * 30.0 / billing_period_days, 2) AS monthly_price_usd
FROM staging.seed_plans
