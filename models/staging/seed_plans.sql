MODEL (
  name staging.seed_plans,
  kind SEED (path '../../seeds/plans.csv'),
  grain plan_id,
  description 'Subscription plans and their prices (reference data).',
  columns (plan_id TEXT, plan_name TEXT, billing_period TEXT, billing_period_days INT, price_usd DECIMAL(10, 2), plan_tier TEXT),
  column_descriptions (
    plan_id = 'Subscription plan key',
    plan_name = 'Plan name',
    billing_period = 'monthly or annual',
    billing_period_days = 'Days between charges',
    price_usd = 'Price per billing period in USD',
    plan_tier = 'basic, plus or premium'
  ),
  audits (unique_values(columns := (plan_id)), not_null(columns := (plan_id, price_usd)))
);
