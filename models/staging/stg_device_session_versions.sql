MODEL (
  name staging.stg_device_session_versions,
  signals [data_complete()],
  kind VIEW,
  grain (session_id, _source_file, _row_number),
  description 'Every loaded version of every session, before staging.stg_device_sessions keeps the latest of each session. Incremental models read it to find the sessions of their interval without deduplicating the whole history.',
  column_descriptions (
    session_date = 'As in staging.stg_device_sessions',
    duration_seconds = 'As in staging.stg_device_sessions',
    app_version = 'As in staging.stg_device_sessions',
    session_id = 'As in staging.stg_device_sessions',
    customer_id = 'As in staging.stg_device_sessions',
    started_at = 'As in staging.stg_device_sessions',
    ended_at = 'As in staging.stg_device_sessions',
    device_type = 'As in staging.stg_device_sessions',
    os_version = 'As in staging.stg_device_sessions',
    pages_viewed = 'As in staging.stg_device_sessions',
    events_fired = 'As in staging.stg_device_sessions',
    _source_file = 'Landing file that carried this version (relative to the landing folder)',
    _row_number = 'Row of this version in its landing file'
  ),
  audits (
    not_null(columns := (session_id, customer_id, started_at, _source_file, _row_number))
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
  events_fired,
  _source_file,
  _row_number
FROM raw.device_sessions
