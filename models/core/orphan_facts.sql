MODEL (
  name core.orphan_facts,
  signals [data_complete()],
  kind FULL,
  grain (source, record_id, customer_id),
  description 'Rows loaded into raw whose customer has no profile (yet) by the as-of date. They are kept out of the facts and listed here, so nothing disappears: a late customer file brings them in on the next run.',
  column_descriptions (
    source = 'Landing source the row came from',
    record_id = 'Key of the held row in its source',
    customer_id = 'Customer key (C + 7 digits)',
    event_date = 'Day of the event'
  ),
  audits (unique_combination_of_columns(columns := (source, record_id, customer_id)))
);

-- Orders and sessions are the long histories: rather than deduplicating all of them, only the
-- keys with a version whose customer is unknown are brought to their latest version (an orphan's
-- latest version is such a version), then checked as in staging.stg_orders/stg_device_sessions.
WITH known AS (
  SELECT DISTINCT customer_id FROM staging.stg_customers WHERE exported_on <= @as_of_date()
), held_orders AS (
  SELECT v.* EXCLUDE (_source_file, _row_number)
  FROM staging.stg_order_versions AS v
  SEMI JOIN (
    SELECT DISTINCT order_id FROM staging.stg_order_versions ANTI JOIN known USING (customer_id)
  ) AS h
    ON v.order_id = h.order_id
  QUALIFY @latest_version(v.order_id)
), held_sessions AS (
  SELECT v.* EXCLUDE (_source_file, _row_number)
  FROM staging.stg_device_session_versions AS v
  SEMI JOIN (
    SELECT DISTINCT session_id FROM staging.stg_device_session_versions ANTI JOIN known USING (customer_id)
  ) AS h
    ON v.session_id = h.session_id
  QUALIFY @latest_version(v.session_id)
)
SELECT 'orders' AS source, o.order_id AS record_id, o.customer_id, o.order_date AS event_date
FROM held_orders AS o ANTI JOIN known AS k ON o.customer_id = k.customer_id
WHERE order_date <= @as_of_date()
UNION ALL
SELECT 'device_sessions', s.session_id, s.customer_id, s.session_date
FROM held_sessions AS s ANTI JOIN known AS k ON s.customer_id = k.customer_id
WHERE session_date <= @as_of_date()
UNION ALL
SELECT 'support_tickets', t.ticket_id, t.customer_id, MIN(t.opened_date)
FROM staging.stg_support_tickets AS t ANTI JOIN known AS k ON t.customer_id = k.customer_id
WHERE t.exported_on <= @as_of_date()
GROUP BY ALL
UNION ALL
SELECT 'subscriptions', u.subscription_id, u.customer_id, MIN(u.exported_on)
FROM staging.stg_subscriptions AS u ANTI JOIN known AS k ON u.customer_id = k.customer_id
WHERE exported_on <= @as_of_date()
GROUP BY ALL
UNION ALL
SELECT 'loyalty_balances', l.customer_id || ':' || l.snapshot_date, l.customer_id, l.snapshot_date
FROM staging.stg_loyalty_balances AS l ANTI JOIN known AS k ON l.customer_id = k.customer_id
WHERE snapshot_date <= @as_of_date()
