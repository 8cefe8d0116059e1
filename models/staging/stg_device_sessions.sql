MODEL (
  name staging.stg_device_sessions,
  signals [data_complete()],
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

SELECT * EXCLUDE (_source_file, _row_number)
FROM staging.stg_device_session_versions
QUALIFY @latest_version(session_id)
