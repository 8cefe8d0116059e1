MODEL (
  name staging.stg_support_tickets,
  signals [data_complete()],
  kind VIEW,
  grain (ticket_id, exported_on),
  description 'Support ticket versions: one row per ticket and export date (a ticket is exported when opened and again, as a new version, when closed).',
  column_descriptions (
    opened_at = 'Ticket opened (UTC)',
    closed_at = 'Ticket closed (UTC); null while open or pending',
    resolution_time_minutes = 'Minutes from opening to closing',
    csat_score = 'Customer satisfaction 1-5 given at closing; null if not answered',
    ticket_id = 'Ticket key (T + 8 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    opened_date = 'Ticket opening date',
    status = 'open, pending or closed',
    channel = 'Support channel: email, chat, phone or in_app',
    issue_type = 'Kind of issue: delivery, product, billing, account, app_crash, app_performance, general',
    root_cause = 'Root cause of the ticket (seeds/root_causes.csv)',
    product_id = 'Product key (P + 3 digits)',
    app_version = 'Mobile app version (semantic version); null for web',
    exported_on = 'Business date of the export file that carried the row'
  ),
  audits (
    unique_combination_of_columns(columns := (ticket_id, exported_on)),
    not_null(columns := (ticket_id, customer_id, opened_at, status, exported_on))
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
QUALIFY ROW_NUMBER() OVER (PARTITION BY ticket_id, @file_date(_source_file) ORDER BY _source_file DESC, _row_number DESC) = 1
