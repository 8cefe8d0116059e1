MODEL (
  name intermediate.int_customer_lifecycle,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Lifecycle stage and rule-based churn risk per customer as of the as-of date. Inactive means no purchase and no session (visit). Stages, with the thresholds of project.yaml: onboarding within onboarding_days of signup; churned after churn_inactive_days inactive and with no active subscription; dormant after dormant_inactive_days without a purchase; otherwise active. The risk score (0-100) adds points for days without a purchase (up to 20) and days inactive (up to 20), falling spend (15) and sessions (10), low-CSAT tickets (10 each, up to 20), auto-renew off (15) and a cancelled plan (15); churned customers score 100. Levels: high from risk_high_threshold, medium from risk_medium_threshold. This score is the baseline every churn model is compared with.',
  column_descriptions (
    lifecycle_stage = 'onboarding, active, dormant or churned',
    churned_date = 'First day of the current churn: the later of the day inactivity reached churn_inactive_days and the day the last subscription stopped being active (subscription_inactive_since); null unless churned',
    risk_score = 'Rule-based churn risk 0-100',
    risk_level = 'high, medium or low',
    primary_risk_reason = 'The largest contributor to the score, in words',
    customer_id = 'Customer key (C + 7 digits)',
    as_of_date = 'The date the row describes (the day before the run''s execution time)'
  ),
  audits (
    as_of_is_the_runs_day,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, lifecycle_stage, risk_score, risk_level)),
    accepted_values(column := lifecycle_stage, is_in := ('onboarding', 'active', 'dormant', 'churned')),
    accepted_values(column := risk_level, is_in := ('high', 'medium', 'low')),
    accepted_range(column := risk_score, min_v := 0, max_v := 100),
    -- a churn date exactly for the churned, and never after the day the row describes
    forall(criteria := ((lifecycle_stage = 'churned') = (churned_date IS NOT NULL), churned_date <= as_of_date))
  )
);

WITH stage AS (
  SELECT
    f.customer_id,
    f.as_of_date,
    f.revenue_trend,
    f.session_trend,
    f.low_csat_tickets_30d,
    f.auto_renew_off,
    f.cancelled_subscription,
    f.days_inactive,
    f.subscription_inactive_since,
    COALESCE(f.recency_days, f.tenure_days) AS days_without_purchase,
    CASE
      WHEN f.tenure_days < @onboarding_days THEN 'onboarding'
      WHEN f.days_inactive >= @churn_inactive_days AND NOT f.has_active_subscription THEN 'churned'
      WHEN COALESCE(f.recency_days, f.tenure_days) >= @dormant_inactive_days THEN 'dormant'
      ELSE 'active'
    END AS lifecycle_stage
  FROM intermediate.int_customer_features AS f
), points AS (
  SELECT
    *,
    LEAST(20, 20.0 * days_without_purchase / @churn_inactive_days) AS purchase_gap_points,
    LEAST(20, 20.0 * days_inactive / @churn_inactive_days) AS inactivity_points,
    CASE WHEN revenue_trend < 0.5 THEN 15 ELSE 0 END AS spend_drop_points,
    CASE WHEN session_trend < 0.5 THEN 10 ELSE 0 END AS session_drop_points,
    LEAST(20, 10 * low_csat_tickets_30d) AS support_points,
    CASE WHEN auto_renew_off THEN 15 ELSE 0 END AS auto_renew_points,
    CASE WHEN cancelled_subscription THEN 15 ELSE 0 END AS cancelled_points
  FROM stage
), scored AS (
  SELECT
    *,
    CASE
      WHEN lifecycle_stage = 'churned' THEN 100
      ELSE LEAST(100, ROUND(purchase_gap_points + inactivity_points + spend_drop_points + session_drop_points + support_points + auto_renew_points + cancelled_points))
    END AS risk_score
  FROM points
)
SELECT
  customer_id,
  as_of_date,
  lifecycle_stage,
  -- Each condition of the churned stage became true on one day; the stage began when the last did
  -- (onboarding always ended earlier: days_inactive counts from signup at the latest). A purchase
  -- or visit resets days_inactive, so the stage has not been interrupted since.
  CASE WHEN lifecycle_stage = 'churned' THEN GREATEST(
    as_of_date + CAST(@churn_inactive_days - days_inactive AS INTEGER),
    -- a cancellation still in its paid period counts from the export that showed it
    LEAST(COALESCE(subscription_inactive_since, DATE '0001-01-01'), as_of_date)
  ) END AS churned_date,
  CAST(risk_score AS INT) AS risk_score,
  CASE
    WHEN risk_score >= @risk_high_threshold THEN 'high'
    WHEN risk_score >= @risk_medium_threshold THEN 'medium'
    ELSE 'low'
  END AS risk_level,
  CASE
    WHEN lifecycle_stage = 'churned' THEN 'churned: no purchase or visit in ' || days_inactive || ' days'
    WHEN GREATEST(purchase_gap_points, inactivity_points, spend_drop_points, session_drop_points, support_points, auto_renew_points, cancelled_points) = 0 THEN 'no risk signal'
    WHEN inactivity_points >= GREATEST(purchase_gap_points, spend_drop_points, session_drop_points, support_points, auto_renew_points, cancelled_points) THEN 'no purchase or visit in ' || days_inactive || ' days'
    WHEN purchase_gap_points >= GREATEST(spend_drop_points, session_drop_points, support_points, auto_renew_points, cancelled_points) THEN 'no purchase in ' || days_without_purchase || ' days'
    WHEN support_points >= GREATEST(spend_drop_points, session_drop_points, auto_renew_points, cancelled_points) THEN low_csat_tickets_30d || ' tickets with CSAT <= 2 in 30 days'
    WHEN auto_renew_points >= GREATEST(spend_drop_points, session_drop_points, cancelled_points) THEN 'auto-renew off'
    WHEN cancelled_points >= GREATEST(spend_drop_points, session_drop_points) THEN 'subscription cancelled'
    WHEN spend_drop_points >= session_drop_points THEN 'spend down ' || CAST(ROUND(100 * (1 - revenue_trend)) AS INT) || '% on the prior 60 days'
    ELSE 'sessions down ' || CAST(ROUND(100 * (1 - session_trend)) AS INT) || '% on the prior 60 days'
  END AS primary_risk_reason
FROM scored
