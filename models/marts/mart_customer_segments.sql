MODEL (
  name marts.mart_customer_segments,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'RFM scores and segment per customer as of the as-of date, with lifecycle, value tier, plan, region and favourite category. R, F and M are quintiles (5 = best) among customers with a purchase; customers without one score 0 and are "no purchase yet". Value tier: top 20% of lifetime value high, next 30% medium, the rest low.',
  column_descriptions (
    rfm_segment = 'champions, loyal, potential_loyalist, new, at_risk, cant_lose, hibernating, lost, or no_purchase_yet',
    value_tier = 'high, medium or low',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    r_score = 'Recency quintile 1-5 (5 = most recent purchase); 0 without a purchase',
    f_score = 'Frequency quintile 1-5 (5 = most purchases); 0 without a purchase',
    m_score = 'Monetary quintile 1-5 (5 = highest lifetime value); 0 without a purchase',
    rfm_code = 'R, F and M scores as one code, e.g. 545',
    lifecycle_stage = 'onboarding, active, dormant or churned',
    ltv_usd = 'Historical lifetime value: net revenue to date in USD',
    plan_id = 'Subscription plan key',
    region = 'Sales region',
    country_code = 'ISO 3166-1 alpha-2 country',
    favourite_category = 'Category with the highest net spend ever (ties: alphabetical)'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, rfm_segment, value_tier, lifecycle_stage)),
    accepted_values(column := rfm_segment, is_in := ('champions', 'loyal', 'potential_loyalist', 'new', 'at_risk', 'cant_lose', 'hibernating', 'lost', 'no_purchase_yet')),
    accepted_range(column := r_score, min_v := 0, max_v := 5),
    accepted_range(column := f_score, min_v := 0, max_v := 5),
    accepted_range(column := m_score, min_v := 0, max_v := 5)
  )
);

WITH base AS (
  SELECT f.customer_id, f.as_of_date, f.recency_days, f.frequency, l.ltv_usd, f.plan_id, f.city, f.country_code,
         f.favourite_category, lc.lifecycle_stage
  FROM intermediate.int_customer_features AS f
  JOIN metrics.metric_customer_ltv AS l ON f.customer_id = l.customer_id
  JOIN intermediate.int_customer_lifecycle AS lc ON f.customer_id = lc.customer_id
), scored AS (
  SELECT
    *,
    CASE WHEN frequency > 0 THEN NTILE(5) OVER (PARTITION BY frequency > 0 ORDER BY recency_days DESC, customer_id) ELSE 0 END AS r_score,
    CASE WHEN frequency > 0 THEN NTILE(5) OVER (PARTITION BY frequency > 0 ORDER BY frequency, customer_id) ELSE 0 END AS f_score,
    CASE WHEN frequency > 0 THEN NTILE(5) OVER (PARTITION BY frequency > 0 ORDER BY ltv_usd, customer_id) ELSE 0 END AS m_score,
    PERCENT_RANK() OVER (ORDER BY ltv_usd) AS value_rank
  FROM base
)
SELECT
  s.customer_id,
  s.as_of_date,
  s.r_score,
  s.f_score,
  s.m_score,
  s.r_score || '' || s.f_score || '' || s.m_score AS rfm_code,
  CASE
    WHEN s.frequency = 0 THEN 'no_purchase_yet'
    WHEN s.r_score >= 4 AND s.f_score >= 4 AND s.m_score >= 4 THEN 'champions'
    WHEN s.r_score >= 3 AND s.f_score >= 4 THEN 'loyal'
    WHEN s.r_score >= 4 AND s.f_score <= 2 THEN 'new'
    WHEN s.r_score >= 3 THEN 'potential_loyalist'
    WHEN s.r_score <= 2 AND s.f_score >= 4 AND s.m_score >= 4 THEN 'cant_lose'
    WHEN s.r_score = 2 THEN 'at_risk'
    WHEN s.f_score >= 2 THEN 'hibernating'
    ELSE 'lost'
  END AS rfm_segment,
  s.lifecycle_stage,
  CASE WHEN s.value_rank >= 0.8 THEN 'high' WHEN s.value_rank >= 0.5 THEN 'medium' ELSE 'low' END AS value_tier,
  s.ltv_usd,
  s.plan_id,
  g.region,
  s.country_code,
  s.favourite_category
FROM scored AS s
LEFT JOIN core.dim_geography AS g
  ON s.city = g.city AND s.country_code = g.country_code
