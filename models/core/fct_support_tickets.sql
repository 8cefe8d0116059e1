MODEL (
  name core.fct_support_tickets,
  kind FULL,
  grain ticket_id,
  description 'Support tickets opened by the as-of date, as they stood on that date: a ticket closed later is still open here.',
  column_descriptions (
    is_closed = 'Closed on or before the as-of date',
    resolution_time_minutes = 'Known once closed',
    csat_score = 'Known once closed; null if the customer did not answer',
    severity = 'Root cause severity 1 (minor) to 4 (critical)'
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
