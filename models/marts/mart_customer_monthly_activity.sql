MODEL (
  name marts.mart_customer_monthly_activity,
  signals [data_complete()],
  kind FULL,
  grain (customer_id, month_start),
  description 'Activity and revenue per customer and calendar month, for the months up to the as-of month in which the customer did anything (bought, was refunded or charged, used the app or web, or opened a ticket). Revenue is every signed revenue event of core.fct_revenue, so a customer''s months add up to their historical LTV (metrics.metric_customer_ltv). The as-of month may be partial (is_partial_month).',
  column_descriptions (
    customer_id = 'Customer key (C + 7 digits)',
    month_start = 'First day of the month',
    as_of_date = 'The date the row describes (the day before the run''s execution time)',
    is_partial_month = 'The month is the as-of month and is not over yet',
    purchases = 'Purchase orders placed in the month',
    purchase_amount_usd = 'Gross purchase amount',
    refund_amount_usd = 'Refunds issued in the month (positive number)',
    subscription_charges_usd = 'Subscription charges in the month',
    net_revenue_usd = 'Purchases - refunds + subscription charges in the month',
    sessions = 'Sessions started in the month',
    mobile_sessions = 'Of which on a mobile device',
    session_days = 'Days of the month with at least one session',
    pages = 'Pages viewed',
    events = 'App events fired',
    tickets_opened = 'Support tickets opened in the month'
  ),
  audits (
    as_of_is_the_runs_day,
    no_pii_columns,
    unique_combination_of_columns(columns := (customer_id, month_start)),
    not_null(columns := (customer_id, month_start, purchases, net_revenue_usd, sessions, tickets_opened)),
    value_not_negative(column := sessions),
    value_not_negative(column := purchases)
  )
);

WITH revenue AS (
  SELECT
    customer_id,
    CAST(DATE_TRUNC('month', event_date) AS DATE) AS month_start,
    COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    COALESCE(SUM(amount_usd) FILTER (WHERE event_type = 'purchase'), 0) AS purchase_amount_usd,
    COALESCE(-SUM(amount_usd) FILTER (WHERE event_type = 'refund'), 0) AS refund_amount_usd,
    COALESCE(SUM(amount_usd) FILTER (WHERE event_type = 'subscription_charge'), 0) AS subscription_charges_usd,
    SUM(amount_usd) AS net_revenue_usd
  FROM core.fct_revenue
  WHERE event_date <= @as_of_date()
  GROUP BY ALL
), usage AS (
  SELECT
    customer_id,
    CAST(DATE_TRUNC('month', activity_date) AS DATE) AS month_start,
    SUM(sessions) AS sessions,
    SUM(mobile_sessions) AS mobile_sessions,
    COUNT(*) FILTER (WHERE sessions > 0) AS session_days,
    SUM(pages) AS pages,
    SUM(events) AS events,
    SUM(tickets_opened) AS tickets_opened
  FROM intermediate.int_customer_daily_metrics
  WHERE activity_date <= @as_of_date()
  GROUP BY ALL
), months AS (
  SELECT customer_id, month_start FROM revenue
  UNION
  SELECT customer_id, month_start FROM usage
)
SELECT
  m.customer_id,
  m.month_start,
  @as_of_date() AS as_of_date,
  m.month_start = CAST(DATE_TRUNC('month', @as_of_date()) AS DATE) AND LAST_DAY(@as_of_date()) <> @as_of_date() AS is_partial_month,
  COALESCE(r.purchases, 0) AS purchases,
  ROUND(COALESCE(r.purchase_amount_usd, 0), 2) AS purchase_amount_usd,
  ROUND(COALESCE(r.refund_amount_usd, 0), 2) AS refund_amount_usd,
  ROUND(COALESCE(r.subscription_charges_usd, 0), 2) AS subscription_charges_usd,
  ROUND(COALESCE(r.net_revenue_usd, 0), 2) AS net_revenue_usd,
  COALESCE(u.sessions, 0) AS sessions,
  COALESCE(u.mobile_sessions, 0) AS mobile_sessions,
  COALESCE(u.session_days, 0) AS session_days,
  COALESCE(u.pages, 0) AS pages,
  COALESCE(u.events, 0) AS events,
  COALESCE(u.tickets_opened, 0) AS tickets_opened
FROM months AS m
SEMI JOIN core.dim_customers AS d
  ON d.customer_id = m.customer_id AND d.is_current
LEFT JOIN revenue AS r
  ON m.customer_id = r.customer_id AND m.month_start = r.month_start
LEFT JOIN usage AS u
  ON m.customer_id = u.customer_id AND m.month_start = u.month_start
