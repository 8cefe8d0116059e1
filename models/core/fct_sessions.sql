MODEL (
  name core.fct_sessions,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column session_date,
    lookback 7
  ),
  grain session_id,
  description 'App and web sessions of known customers.',
  audits (
    unique_values(columns := (session_id)),
    not_null(columns := (session_id, customer_id, session_date)),
    customer_in_dim_customers
  )
);

SELECT
  s.session_id,
  s.customer_id,
  s.started_at,
  s.session_date,
  s.duration_seconds,
  s.device_type,
  s.os_version,
  s.app_version,
  s.pages_viewed,
  s.events_fired
FROM staging.stg_device_sessions AS s
SEMI JOIN core.dim_customers AS c
  ON s.customer_id = c.customer_id
WHERE s.session_date BETWEEN @start_ds AND @end_ds
