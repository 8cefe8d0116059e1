MODEL (
  name staging.stg_device_sessions,
  kind VIEW,
  grain session_id,
  description 'App and web sessions, one row per session.',
  column_descriptions (
    session_date = 'Date the session started',
    duration_seconds = 'Session length in seconds',
    app_version = 'App version; null for web sessions',
    session_id = 'Session key (E + 10 digits)',
    customer_id = 'Customer key (C + 7 digits)',
    started_at = 'Session start timestamp (UTC)',
    ended_at = 'Session end timestamp (UTC)',
    device_type = 'mobile, desktop or tablet',
    os_version = 'Operating system and version',
    pages_viewed = 'Pages viewed in the session',
    events_fired = 'App events fired in the session'
  ),
  audits (
    unique_values(columns := (session_id)),
    not_null(columns := (session_id, customer_id, started_at))
  )
);

SELECT
  session_id,
  customer_id,
  session_start_ts AS started_at,
  CAST(session_start_ts AS DATE) AS session_date,
  session_end_ts AS ended_at,
  DATE_DIFF('second', session_start_ts, session_end_ts) AS duration_seconds,
  device_type,
  os_version,
  app_version,
  pages_viewed,
  events_fired
FROM raw.device_sessions
QUALIFY ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY _source_file DESC, _row_number DESC) = 1
