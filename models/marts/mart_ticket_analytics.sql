MODEL (
  name marts.mart_ticket_analytics,
  signals [data_complete()],
  kind FULL,
  grain ticket_id,
  description 'One row per support ticket opened by the as-of date, with customer region, product category, root cause severity, and resolution and satisfaction classes.',
  column_descriptions (
    is_resolved = 'Closed on or before the as-of date',
    satisfaction_level = 'satisfied (CSAT 4-5), neutral (3), dissatisfied (1-2), no_answer (closed without a score) or pending (not closed)',
    resolution_speed = 'fast (under 4 hours), normal (under 24 hours), slow, or open',
    ticket_id = 'Ticket key (T + 8 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    opened_at = 'Ticket opening timestamp (UTC)',
    opened_date = 'Ticket opening date',
    opened_month = 'Month of opening (first day)',
    closed_at = 'Ticket closing timestamp (UTC); null while open',
    status = 'open, pending or closed',
    channel = 'Support channel: email, chat, phone or in_app',
    issue_type = 'Kind of issue: delivery, product, billing, account, app_crash, app_performance, general',
    root_cause = 'Root cause of the ticket (seeds/root_causes.csv)',
    severity = 'Root cause severity 1 (minor) to 4 (critical)',
    product_id = 'Product key (P + 3 digits)',
    product_category = 'Category of the product concerned; no_product when none',
    app_version = 'Mobile app version (semantic version); null for web',
    region = 'Sales region',
    country_code = 'ISO 3166-1 alpha-2 country',
    resolution_time_minutes = 'Minutes from opening to closing; null while open',
    csat_score = 'Customer satisfaction 1-5 given at closing; null if not answered'
  ),
  audits (
    no_pii_columns,
    unique_values(columns := (ticket_id)),
    not_null(columns := (ticket_id, customer_id, opened_date, satisfaction_level, resolution_speed)),
    accepted_values(column := satisfaction_level, is_in := ('satisfied', 'neutral', 'dissatisfied', 'no_answer', 'pending')),
    accepted_values(column := resolution_speed, is_in := ('fast', 'normal', 'slow', 'open'))
  )
);

SELECT
  t.ticket_id,
  t.customer_id,
  t.opened_at,
  t.opened_date,
  CAST(DATE_TRUNC('month', t.opened_date) AS DATE) AS opened_month,
  t.closed_at,
  t.status,
  t.channel,
  t.issue_type,
  t.root_cause,
  t.severity,
  t.product_id,
  COALESCE(p.category, 'no_product') AS product_category,
  t.app_version,
  g.region,
  d.country_code,
  t.resolution_time_minutes,
  t.csat_score,
  t.is_closed AS is_resolved,
  CASE
    WHEN NOT t.is_closed THEN 'pending'
    WHEN t.csat_score IS NULL THEN 'no_answer'
    WHEN t.csat_score >= 4 THEN 'satisfied'
    WHEN t.csat_score = 3 THEN 'neutral'
    ELSE 'dissatisfied'
  END AS satisfaction_level,
  CASE
    WHEN NOT t.is_closed THEN 'open'
    WHEN t.resolution_time_minutes < 240 THEN 'fast'
    WHEN t.resolution_time_minutes < 1440 THEN 'normal'
    ELSE 'slow'
  END AS resolution_speed
FROM core.fct_support_tickets AS t
LEFT JOIN core.dim_products AS p
  ON t.product_id = p.product_id
LEFT JOIN core.dim_customers AS d
  ON t.customer_id = d.customer_id AND d.is_current
LEFT JOIN core.dim_geography AS g
  ON d.city = g.city AND d.country_code = g.country_code
