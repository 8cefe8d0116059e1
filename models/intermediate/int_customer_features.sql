MODEL (
  name intermediate.int_customer_features,
  signals [data_complete()],
  kind FULL,
  grain customer_id,
  description 'Customer features as of the as-of date, one row per customer signed up by then. Windows are calendar windows ending on the as-of date: "30d" is the as-of date and the 29 days before it.',
  column_descriptions (
    as_of_date = 'The date these features describe',
    tenure_days = 'Days from signup to the as-of date',
    recency_days = 'Days since the last purchase; null if none',
    last_active_date = 'Last day with a purchase or a session; null if none',
    days_inactive = 'Days since the last purchase or session (since signup if there was none): the inactivity of the churn definition',
    frequency = 'Purchases ever',
    monetary_usd = 'Net revenue ever (purchases minus refunds)',
    revenue_trend = 'Daily net revenue of the last 30 days divided by that of the 60 days before; null when there was none before',
    session_trend = 'Same ratio for sessions',
    low_csat_tickets_30d = 'Tickets closed in the last 30 days with CSAT 2 or less',
    has_active_subscription = 'A subscription is active on the as-of date',
    auto_renew_off = 'The active or paused subscription will not renew',
    cancelled_subscription = 'The customer has a cancelled subscription and none active',
    subscription_inactive_since = 'Export date of the newest version of a subscription that is not active (cancelled or paused): when the customer''s last subscription stopped being active, as far as the exports show; null if none',
    mobile_session_share_90d = 'Share of the last 90 days sessions on mobile',
    favourite_category = 'Category with the highest net spend ever (ties: alphabetical)',
    customer_id = 'Customer key (C + 7 digits)',
    signup_date = 'Signup date',
    city = 'City',
    country_code = 'ISO 3166-1 alpha-2 country',
    first_purchase_date = 'Day of the first purchase; null if none',
    last_purchase_date = 'Day of the last purchase; null if none',
    purchases_30d = 'Purchases in the 30 days ending on the as-of date',
    revenue_30d = 'Net order revenue in the 30 days ending on the as-of date',
    purchases_90d = 'Purchases in the 90 days ending on the as-of date',
    revenue_90d = 'Net order revenue in the 90 days ending on the as-of date',
    sessions_30d = 'Sessions in the 30 days ending on the as-of date',
    sessions_90d = 'Sessions in the 90 days ending on the as-of date',
    tickets_90d = 'Tickets opened in the 90 days ending on the as-of date',
    open_tickets = 'Tickets not closed on the as-of date',
    avg_resolution_hours_90d = 'Mean resolution time (hours) of tickets closed in the last 90 days',
    avg_csat_90d = 'Mean CSAT of tickets closed in the last 90 days',
    mrr_usd = 'Monthly recurring revenue of active subscriptions',
    plan_id = 'Subscription plan key',
    loyalty_tier = 'bronze, silver, gold or platinum',
    points_balance = 'Loyalty points balance'
  ),
  audits (
    as_of_is_the_runs_day,
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, as_of_date, tenure_days, frequency, days_inactive)),
    value_not_negative(column := tenure_days)
  )
);

WITH as_of AS (
  SELECT @as_of_date() AS as_of_date
), customers AS (
  SELECT d.customer_id, d.signup_date, d.city, d.country_code, a.as_of_date
  FROM core.dim_customers AS d
  CROSS JOIN as_of AS a
  WHERE d.is_current AND d.signup_date <= a.as_of_date
), activity AS (
  SELECT
    m.customer_id,
    MAX(m.activity_date) FILTER (WHERE m.purchases > 0) AS last_purchase_date,
    MIN(m.activity_date) FILTER (WHERE m.purchases > 0) AS first_purchase_date,
    MAX(m.activity_date) FILTER (WHERE m.purchases > 0 OR m.sessions > 0) AS last_active_date,
    SUM(m.purchases) AS frequency,
    SUM(m.net_revenue_usd) AS monetary_usd,
    SUM(m.purchases) FILTER (WHERE m.activity_date > a.as_of_date - 30) AS purchases_30d,
    SUM(m.net_revenue_usd) FILTER (WHERE m.activity_date > a.as_of_date - 30) AS revenue_30d,
    SUM(m.net_revenue_usd) FILTER (WHERE m.activity_date > a.as_of_date - 90 AND m.activity_date <= a.as_of_date - 30) AS revenue_prior_60d,
    SUM(m.purchases) FILTER (WHERE m.activity_date > a.as_of_date - 90) AS purchases_90d,
    SUM(m.net_revenue_usd) FILTER (WHERE m.activity_date > a.as_of_date - 90) AS revenue_90d,
    SUM(m.sessions) FILTER (WHERE m.activity_date > a.as_of_date - 30) AS sessions_30d,
    SUM(m.sessions) FILTER (WHERE m.activity_date > a.as_of_date - 90 AND m.activity_date <= a.as_of_date - 30) AS sessions_prior_60d,
    SUM(m.sessions) FILTER (WHERE m.activity_date > a.as_of_date - 90) AS sessions_90d,
    SUM(m.mobile_sessions) FILTER (WHERE m.activity_date > a.as_of_date - 90) AS mobile_sessions_90d
  FROM intermediate.int_customer_daily_metrics AS m
  CROSS JOIN as_of AS a
  WHERE m.activity_date <= a.as_of_date
  GROUP BY m.customer_id
), support AS (
  SELECT
    t.customer_id,
    COUNT(*) FILTER (WHERE t.opened_date > a.as_of_date - 90) AS tickets_90d,
    COUNT(*) FILTER (WHERE t.closed_date > a.as_of_date - 30 AND t.csat_score <= 2) AS low_csat_tickets_30d,
    COUNT(*) FILTER (WHERE NOT t.is_closed) AS open_tickets,
    -- averaged as integers, then scaled: a sum of integers does not depend on row order
    AVG(t.resolution_time_minutes) FILTER (WHERE t.closed_date > a.as_of_date - 90) / 60.0 AS avg_resolution_hours_90d,
    AVG(t.csat_score) FILTER (WHERE t.closed_date > a.as_of_date - 90) AS avg_csat_90d
  FROM core.fct_support_tickets AS t
  CROSS JOIN as_of AS a
  GROUP BY t.customer_id
), subscription AS (
  SELECT
    customer_id,
    BOOL_OR(status = 'active') AS has_active_subscription,
    BOOL_OR(status IN ('active', 'paused') AND NOT is_auto_renew) AS auto_renew_off,
    BOOL_OR(status = 'cancelled') AND NOT BOOL_OR(status IN ('active', 'paused')) AS cancelled_subscription,
    MAX(last_changed_on) FILTER (WHERE status <> 'active') AS subscription_inactive_since,
    SUM(mrr_usd) AS mrr_usd,
    ARG_MAX(plan_id, start_date) AS plan_id
  FROM core.fct_subscriptions
  GROUP BY customer_id
), loyalty AS (
  SELECT customer_id, ARG_MAX(loyalty_tier, snapshot_date) AS loyalty_tier, ARG_MAX(points_balance, snapshot_date) AS points_balance
  FROM core.fct_loyalty
  GROUP BY customer_id
), category_spend AS (
  SELECT customer_id, category, SUM(amount_usd) AS spend
  FROM core.fct_orders
  WHERE order_date <= (SELECT as_of_date FROM as_of)
  GROUP BY ALL
), favourite AS (
  SELECT customer_id, category AS favourite_category
  FROM category_spend
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY spend DESC, category) = 1
)
SELECT
  c.customer_id,
  c.as_of_date,
  c.signup_date,
  DATE_DIFF('day', c.signup_date, c.as_of_date) AS tenure_days,
  c.city,
  c.country_code,
  act.first_purchase_date,
  act.last_purchase_date,
  DATE_DIFF('day', act.last_purchase_date, c.as_of_date) AS recency_days,
  act.last_active_date,
  COALESCE(DATE_DIFF('day', act.last_active_date, c.as_of_date), DATE_DIFF('day', c.signup_date, c.as_of_date)) AS days_inactive,
  COALESCE(act.frequency, 0) AS frequency,
  COALESCE(act.monetary_usd, 0) AS monetary_usd,
  COALESCE(act.purchases_30d, 0) AS purchases_30d,
  COALESCE(act.revenue_30d, 0) AS revenue_30d,
  COALESCE(act.purchases_90d, 0) AS purchases_90d,
  COALESCE(act.revenue_90d, 0) AS revenue_90d,
  COALESCE(act.sessions_30d, 0) AS sessions_30d,
  COALESCE(act.sessions_90d, 0) AS sessions_90d,
  (COALESCE(act.revenue_30d, 0) / 30.0) / NULLIF(act.revenue_prior_60d / 60.0, 0) AS revenue_trend,
  (COALESCE(act.sessions_30d, 0) / 30.0) / NULLIF(act.sessions_prior_60d / 60.0, 0) AS session_trend,
  COALESCE(act.mobile_sessions_90d, 0) / NULLIF(act.sessions_90d, 0) AS mobile_session_share_90d,
  COALESCE(sup.tickets_90d, 0) AS tickets_90d,
  COALESCE(sup.low_csat_tickets_30d, 0) AS low_csat_tickets_30d,
  COALESCE(sup.open_tickets, 0) AS open_tickets,
  sup.avg_resolution_hours_90d,
  sup.avg_csat_90d,
  COALESCE(sub.has_active_subscription, FALSE) AS has_active_subscription,
  COALESCE(sub.auto_renew_off, FALSE) AS auto_renew_off,
  COALESCE(sub.cancelled_subscription, FALSE) AS cancelled_subscription,
  sub.subscription_inactive_since,
  COALESCE(sub.mrr_usd, 0) AS mrr_usd,
  sub.plan_id,
  COALESCE(loy.loyalty_tier, 'bronze') AS loyalty_tier,
  COALESCE(loy.points_balance, 0) AS points_balance,
  fav.favourite_category
FROM customers AS c
LEFT JOIN activity AS act ON c.customer_id = act.customer_id
LEFT JOIN support AS sup ON c.customer_id = sup.customer_id
LEFT JOIN subscription AS sub ON c.customer_id = sub.customer_id
LEFT JOIN loyalty AS loy ON c.customer_id = loy.customer_id
LEFT JOIN favourite AS fav ON c.customer_id = fav.customer_id
