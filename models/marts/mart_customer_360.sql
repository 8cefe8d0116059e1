MODEL (
  name marts.mart_customer_360,
  kind FULL,
  grain customer_id,
  description 'One wide row per customer as of the as-of date: profile, lifetime and recent activity, subscription, loyalty, lifecycle, risk and campaign eligibility. Campaign flags: retention = dormant or high risk and not churned; onboarding = in onboarding with no purchase yet; premium = top loyalty tiers or premium plan, low risk.',
  audits (
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, lifecycle_stage, risk_level)),
    value_not_negative(column := frequency)
  )
);

SELECT
  f.customer_id,
  f.as_of_date,
  f.signup_date,
  f.tenure_days,
  f.city,
  f.country_code,
  g.region,
  f.first_purchase_date,
  f.last_purchase_date,
  f.recency_days,
  f.frequency,
  f.monetary_usd,
  f.monetary_usd / NULLIF(f.frequency, 0) AS average_order_value_usd,
  f.purchases_30d,
  f.revenue_30d,
  f.purchases_90d,
  f.revenue_90d,
  f.sessions_30d,
  f.sessions_90d,
  f.tickets_90d,
  f.avg_csat_90d,
  f.has_active_subscription,
  f.plan_id,
  f.mrr_usd,
  f.loyalty_tier,
  f.points_balance,
  f.favourite_category,
  l.lifecycle_stage,
  l.risk_score,
  l.risk_level,
  l.primary_risk_reason,
  (l.lifecycle_stage = 'dormant' OR l.risk_level = 'high') AND l.lifecycle_stage <> 'churned' AS eligible_retention_campaign,
  l.lifecycle_stage = 'onboarding' AND f.frequency = 0 AS eligible_onboarding_campaign,
  (f.loyalty_tier IN ('gold', 'platinum') OR p.plan_tier = 'premium') AND l.risk_level = 'low' AS eligible_premium_campaign
FROM intermediate.int_customer_features AS f
JOIN intermediate.int_customer_lifecycle AS l
  ON f.customer_id = l.customer_id
LEFT JOIN core.dim_geography AS g
  ON f.city = g.city AND f.country_code = g.country_code
LEFT JOIN core.dim_plans AS p
  ON f.plan_id = p.plan_id
