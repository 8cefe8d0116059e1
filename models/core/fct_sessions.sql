MODEL (
  name core.fct_sessions,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column session_date,
    lookback @late_data_lookback_days
  ),
  grain session_id,
  description 'App and web sessions of known customers.',
  column_descriptions (
    session_id = 'Session key (E + 10 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    started_at = 'Session start timestamp (UTC)',
    session_date = 'Day the session started',
    duration_seconds = 'Session length in seconds',
    device_type = 'mobile, desktop or tablet',
    os_version = 'Operating system and version',
    app_version = 'Mobile app version (semantic version); null for web',
    pages_viewed = 'Pages viewed in the session',
    events_fired = 'App events fired in the session'
  ),
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
