MODEL (
  name intermediate.int_customer_daily_metrics,
  signals [data_complete()],
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column activity_date,
    lookback @late_data_lookback_days -- late rows within the lookback are absorbed by the next run
  ),
  grain (customer_id, activity_date),
  description 'Activity per customer and day, only for days with activity (sparse): orders, revenue, sessions, events and tickets. Rolling windows over it must be calendar windows (filter on activity_date), never row windows.',
  column_descriptions (
    purchases = 'Purchase orders placed that day',
    purchase_amount_usd = 'Gross purchase amount',
    refund_amount_usd = 'Refunds issued that day (positive number)',
    net_revenue_usd = 'Purchases minus refunds',
    sessions = 'Sessions started that day',
    mobile_sessions = 'Of which on a mobile device',
    tickets_opened = 'Support tickets opened that day',
    customer_id = 'Customer key (C + 7 digits)',
    activity_date = 'Day of the activity',
    events = 'App events fired',
    pages = 'Pages viewed'
  ),
  audits (
    unique_combination_of_columns(columns := (customer_id, activity_date)),
    not_null(columns := (customer_id, activity_date)),
    value_not_negative(column := purchases),
    value_not_negative(column := sessions)
  )
);

WITH orders AS (
  SELECT
    customer_id,
    order_date AS activity_date,
    COUNT(*) FILTER (WHERE order_type = 'purchase') AS purchases,
    COALESCE(SUM(amount_usd) FILTER (WHERE order_type = 'purchase'), 0) AS purchase_amount_usd,
    COALESCE(-SUM(amount_usd) FILTER (WHERE order_type = 'refund'), 0) AS refund_amount_usd
  FROM core.fct_orders
  WHERE order_date BETWEEN @start_ds AND @end_ds
  GROUP BY ALL
), sessions AS (
  SELECT
    customer_id,
    session_date AS activity_date,
    COUNT(*) AS sessions,
    COUNT(*) FILTER (WHERE device_type = 'mobile') AS mobile_sessions,
    SUM(events_fired) AS events,
    SUM(pages_viewed) AS pages
  FROM core.fct_sessions
  WHERE session_date BETWEEN @start_ds AND @end_ds
  GROUP BY ALL
), tickets AS (
  SELECT
    customer_id,
    opened_date AS activity_date,
    COUNT(*) AS tickets_opened
  FROM core.fct_support_tickets
  WHERE opened_date BETWEEN @start_ds AND @end_ds
  GROUP BY ALL
), days AS (
  SELECT customer_id, activity_date FROM orders
  UNION
  SELECT customer_id, activity_date FROM sessions
  UNION
  SELECT customer_id, activity_date FROM tickets
)
SELECT
  d.customer_id,
  d.activity_date,
  COALESCE(o.purchases, 0) AS purchases,
  COALESCE(o.purchase_amount_usd, 0) AS purchase_amount_usd,
  COALESCE(o.refund_amount_usd, 0) AS refund_amount_usd,
  COALESCE(o.purchase_amount_usd, 0) - COALESCE(o.refund_amount_usd, 0) AS net_revenue_usd,
  COALESCE(s.sessions, 0) AS sessions,
  COALESCE(s.mobile_sessions, 0) AS mobile_sessions,
  COALESCE(s.events, 0) AS events,
  COALESCE(s.pages, 0) AS pages,
  COALESCE(t.tickets_opened, 0) AS tickets_opened
FROM days AS d
LEFT JOIN orders AS o
  ON d.customer_id = o.customer_id AND d.activity_date = o.activity_date
LEFT JOIN sessions AS s
  ON d.customer_id = s.customer_id AND d.activity_date = s.activity_date
LEFT JOIN tickets AS t
  ON d.customer_id = t.customer_id AND d.activity_date = t.activity_date
