MODEL (
  name marts.mart_customer_360,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'One wide row per customer as of the as-of date: profile (no personal data: an age band instead of the date of birth, no names or contact details), RFM segment and value tier, lifetime and recent activity, subscription, loyalty, lifecycle, rule-based risk, the churn model''s probability, level and reasons, predicted CLV, revenue at risk (open customers only; a churned customer''s predicted CLV is lost_clv_usd, value lost to churn; see marts.mart_churn_risk) and campaign eligibility. Campaigns follow the churn model while one is live (scores for the as-of date in scoring.churn_scores): its level and revenue at risk; only while no model is live do they fall back to the rule-based level and its revenue proxy (campaign_risk_basis says which). Campaign flags: retention = not churned, and high or medium risk or at least retention_min_revenue_at_risk_usd at risk (macro @retention_eligible); onboarding = in onboarding with no purchase yet; premium = top loyalty tiers or premium plan, low risk and not retention-eligible.',
  column_descriptions (
    rfm_segment = 'RFM segment (marts.mart_customer_segments)',
    value_tier = 'high, medium or low lifetime value (marts.mart_customer_segments)',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    signup_date = 'Signup date',
    tenure_days = 'Days from signup to the as-of date',
    age_band = 'Age in whole years on the as-of date, banded by the age_band macro (macros/privacy.py); unknown without a date of birth',
    city = 'City',
    country_code = 'ISO 3166-1 alpha-2 country',
    region = 'Sales region',
    first_purchase_date = 'Day of the first purchase; null if none',
    last_purchase_date = 'Day of the last purchase; null if none',
    recency_days = 'Days since the last purchase; null if none',
    frequency = 'Purchases to date',
    monetary_usd = 'Net revenue from orders to date (purchases minus refunds)',
    average_order_value_usd = 'Mean purchase amount in USD (metrics.metric_avg_transaction_value); null before the first purchase',
    purchases_30d = 'Purchases in the 30 days ending on the as-of date',
    revenue_30d = 'Net order revenue in the 30 days ending on the as-of date',
    purchases_90d = 'Purchases in the 90 days ending on the as-of date',
    revenue_90d = 'Net order revenue in the 90 days ending on the as-of date',
    sessions_30d = 'Sessions in the 30 days ending on the as-of date',
    sessions_90d = 'Sessions in the 90 days ending on the as-of date',
    tickets_90d = 'Tickets opened in the 90 days ending on the as-of date',
    avg_csat_90d = 'Mean CSAT of tickets closed in the last 90 days',
    has_active_subscription = 'A subscription is active on the as-of date',
    plan_id = 'Subscription plan key',
    plan_tier = 'basic, plus or premium (core.dim_plans); no_plan without a subscription',
    mrr_usd = 'Monthly recurring revenue of active subscriptions',
    loyalty_tier = 'bronze, silver, gold or platinum',
    points_balance = 'Loyalty points balance',
    favourite_category = 'Category with the highest net spend ever (ties: alphabetical)',
    lifecycle_stage = 'onboarding, active, dormant or churned',
    churned_date = 'First day of the current churn (intermediate.int_customer_lifecycle); null unless churned',
    risk_score = 'Rule-based churn risk 0-100',
    risk_level = 'high, medium or low (thresholds in project.yaml)',
    primary_risk_reason = 'The largest contributor to the risk score, in words',
    churn_probability = 'Calibrated probability of churn within churn_horizon_days (null while no churn model is live)',
    churn_risk_level = 'high, medium or low from churn_probability x 100',
    churn_reasons = 'Up to three reasons for the churn probability, strongest first',
    model_version = 'The churn model version that produced the score',
    predicted_clv_usd = 'Predicted CLV over clv_horizon_days',
    primary_churn_reason = 'The strongest of churn_reasons',
    revenue_at_risk_usd = 'churn_probability x predicted_clv_usd for an open customer, 0 for a churned one (macro @revenue_at_risk)',
    lost_clv_usd = 'Value lost to churn: predicted_clv_usd of a churned customer, 0 for anyone else',
    campaign_risk_basis = 'What the campaign flags used: model (a churn model is live) or rules (none is)',
    campaign_risk_level = 'The risk level the campaign flags used: churn_risk_level while a model is live, risk_level otherwise',
    campaign_revenue_at_risk_usd = 'The revenue at risk the campaign flags used: revenue_at_risk_usd while a model is live, the rule-based proxy otherwise',
    eligible_retention_campaign = 'Not churned, and campaign_risk_level high or medium or at least retention_min_revenue_at_risk_usd of campaign_revenue_at_risk_usd (macro @retention_eligible)',
    eligible_onboarding_campaign = 'Onboarding and no purchase yet',
    eligible_premium_campaign = 'Gold or platinum loyalty tier or premium plan, campaign_risk_level low, and not eligible for retention'
  ),
  audits (
    as_of_is_the_runs_day,
    scored_when_a_model_is_live,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, lifecycle_stage, risk_level, age_band, campaign_risk_basis, eligible_retention_campaign, eligible_onboarding_campaign, eligible_premium_campaign)),
    value_not_negative(column := frequency)
  )
);

-- A churn model is live when the as-of date has scores; campaigns then follow the model, and the
-- rule-based level is only the fallback for a warehouse without one.
WITH model AS (
  SELECT COUNT(model_version) > 0 AS is_live
  FROM marts.mart_churn_risk
), risk AS (
  SELECT
    r.*,
    CASE WHEN m.is_live THEN 'model' ELSE 'rules' END AS campaign_risk_basis,
    CASE WHEN m.is_live THEN r.churn_risk_level ELSE r.risk_level END AS campaign_risk_level,
    CASE WHEN m.is_live THEN r.revenue_at_risk_usd ELSE r.rule_revenue_at_risk_usd END AS campaign_revenue_at_risk_usd
  FROM marts.mart_churn_risk AS r
  CROSS JOIN model AS m
), flagged AS (
  SELECT
    risk.*,
    @retention_eligible(campaign_risk_level, campaign_revenue_at_risk_usd, lifecycle_stage) AS eligible_retention
  FROM risk
)
SELECT
  f.customer_id,
  f.as_of_date,
  f.signup_date,
  f.tenure_days,
  @age_band(d.date_of_birth, f.as_of_date) AS age_band,
  f.city,
  f.country_code,
  g.region,
  f.first_purchase_date,
  f.last_purchase_date,
  f.recency_days,
  f.frequency,
  f.monetary_usd,
  atv.mean_usd AS average_order_value_usd,
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
  COALESCE(p.plan_tier, 'no_plan') AS plan_tier,
  f.mrr_usd,
  f.loyalty_tier,
  f.points_balance,
  f.favourite_category,
  seg.rfm_segment,
  seg.value_tier,
  l.lifecycle_stage,
  l.churned_date,
  l.risk_score,
  l.risk_level,
  l.primary_risk_reason,
  r.churn_probability,
  r.churn_risk_level,
  r.churn_reasons,
  r.primary_churn_reason,
  r.model_version,
  r.predicted_clv_usd,
  r.revenue_at_risk_usd,
  r.lost_clv_usd,
  r.campaign_risk_basis,
  r.campaign_risk_level,
  r.campaign_revenue_at_risk_usd,
  r.eligible_retention AS eligible_retention_campaign,
  COALESCE(l.lifecycle_stage = 'onboarding' AND f.frequency = 0, FALSE) AS eligible_onboarding_campaign,
  -- an upsell goes to customers at ease; anyone the retention campaign wants is not one
  COALESCE(
    (f.loyalty_tier IN ('gold', 'platinum') OR p.plan_tier = 'premium')
    AND r.campaign_risk_level = 'low'
    AND NOT r.eligible_retention,
    FALSE
  ) AS eligible_premium_campaign
FROM intermediate.int_customer_features AS f
JOIN intermediate.int_customer_lifecycle AS l
  ON f.customer_id = l.customer_id
JOIN core.dim_customers AS d
  ON f.customer_id = d.customer_id AND d.is_current
LEFT JOIN core.dim_geography AS g
  ON f.city = g.city AND f.country_code = g.country_code
JOIN marts.mart_customer_segments AS seg
  ON f.customer_id = seg.customer_id
LEFT JOIN core.dim_plans AS p
  ON f.plan_id = p.plan_id
JOIN flagged AS r
  ON f.customer_id = r.customer_id
LEFT JOIN metrics.metric_avg_transaction_value AS atv
  ON f.customer_id = atv.customer_id
