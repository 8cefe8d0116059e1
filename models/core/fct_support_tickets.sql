MODEL (
  name core.fct_support_tickets,
  signals [data_complete()],
  kind FULL,
  grain ticket_id,
  description 'Support tickets known by the as-of date, as they stood on that date (their latest version exported by then): a ticket closed later is still open or pending here.',
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
  -- The latest version exported by the as-of date: what was known then.
  SELECT t.*, t.status = 'closed' AS is_closed
  FROM staging.stg_support_tickets AS t
  SEMI JOIN core.dim_customers AS c
    ON t.customer_id = c.customer_id
  WHERE t.exported_on <= @as_of_date()
  QUALIFY ROW_NUMBER() OVER (PARTITION BY t.ticket_id ORDER BY t.exported_on DESC) = 1
)
SELECT
  a.ticket_id,
  a.customer_id,
  a.opened_at,
  a.opened_date,
  a.closed_at,
  CAST(a.closed_at AS DATE) AS closed_date,
  a.is_closed,
  a.status,
  a.channel,
  a.issue_type,
  a.root_cause,
  rc.severity,
  a.product_id,
  a.app_version,
  a.resolution_time_minutes,
  a.csat_score
FROM as_of AS a
LEFT JOIN staging.seed_root_causes AS rc
  ON a.root_cause = rc.root_cause
