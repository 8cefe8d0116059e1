MODEL (
  name staging.stg_support_tickets,
  kind VIEW,
  grain ticket_id,
  description 'Support tickets, one row per ticket in its latest exported state (a ticket is exported when opened and again when closed).',
  column_descriptions (
    opened_at = 'Ticket opened (UTC)',
    closed_at = 'Ticket closed (UTC); null while open or pending',
    resolution_time_minutes = 'Minutes from opening to closing',
    csat_score = 'Customer satisfaction 1-5 given at closing; null if not answered'
  ),
  audits (
    unique_values(columns := (ticket_id)),
    not_null(columns := (ticket_id, customer_id, opened_at, status))
  )
);

SELECT
  ticket_id,
  customer_id,
  opened_datetime AS opened_at,
  CAST(opened_datetime AS DATE) AS opened_date,
  closed_datetime AS closed_at,
  status,
  channel,
  issue_type,
  root_cause,
  product_id,
  app_version,
  resolution_time_minutes,
  csat_score,
  @file_date(_source_file) AS exported_on
FROM raw.support_tickets
QUALIFY ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY @file_date(_source_file) DESC, _source_file DESC, _row_number DESC) = 1
