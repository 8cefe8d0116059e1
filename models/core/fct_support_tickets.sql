MODEL (
  name core.fct_support_tickets,
  kind FULL,
  grain ticket_id,
  description 'Support tickets opened by the as-of date, as they stood on that date: a ticket closed later is still open here.',
  column_descriptions (
    is_closed = 'Closed on or before the as-of date',
    resolution_time_minutes = 'Known once closed',
    csat_score = 'Known once closed; null if the customer did not answer',
    severity = 'Root cause severity 1 (minor) to 4 (critical)',
    ticket_id = 'Ticket key (T + 8 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    opened_at = 'Ticket opening timestamp (UTC)',
    opened_date = 'Ticket opening date',
    closed_at = 'Ticket closing timestamp (UTC); null while open',
    closed_date = 'Ticket closing date; null while open',
    status = 'open, pending or closed',
    channel = 'Support channel: email, chat, phone or in_app',
    issue_type = 'Kind of issue: delivery, product, billing, account, app_crash, app_performance, general',
    root_cause = 'Root cause of the ticket (seeds/root_causes.csv)',
    product_id = 'Product key (P + 3 digits)',
    app_version = 'Mobile app version (semantic version); null for web'
  ),
  audits (
    unique_values(columns := (ticket_id)),
    not_null(columns := (ticket_id, customer_id, opened_date)),
    accepted_range(column := csat_score, min_v := 1, max_v := 5),
    customer_in_dim_customers
  )
);

WITH as_of AS (
  SELECT t.*, t.closed_at IS NOT NULL AND CAST(t.closed_at AS DATE) <= @as_of_date() AS is_closed
  FROM staging.stg_support_tickets AS t
  SEMI JOIN core.dim_customers AS c
    ON t.customer_id = c.customer_id
  WHERE t.opened_date <= @as_of_date()
)
SELECT
  a.ticket_id,
  a.customer_id,
  a.opened_at,
  a.opened_date,
  CASE WHEN a.is_closed THEN a.closed_at END AS closed_at,
  CASE WHEN a.is_closed THEN CAST(a.closed_at AS DATE) END AS closed_date,
  a.is_closed,
  CASE WHEN a.is_closed THEN 'closed' WHEN a.status = 'closed' THEN 'open' ELSE a.status END AS status,
  a.channel,
  a.issue_type,
  a.root_cause,
  rc.severity,
  a.product_id,
  a.app_version,
  CASE WHEN a.is_closed THEN a.resolution_time_minutes END AS resolution_time_minutes,
  CASE WHEN a.is_closed THEN a.csat_score END AS csat_score
FROM as_of AS a
LEFT JOIN staging.seed_root_causes AS rc
  ON a.root_cause = rc.root_cause
