MODEL (
  name core.fct_sessions,
  signals [data_complete()],
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

-- The rows of staging.stg_device_sessions dated in the interval, without deduplicating the whole
-- history: the sessions with a version dated in the interval, each at its latest version (which
-- may be dated elsewhere, and is then left out by the WHERE below).
WITH touched AS (
  SELECT DISTINCT session_id FROM staging.stg_device_session_versions
  WHERE session_date BETWEEN @start_ds AND @end_ds
), latest AS (
  SELECT v.* EXCLUDE (_source_file, _row_number)
  FROM staging.stg_device_session_versions AS v
  SEMI JOIN touched AS t
    ON v.session_id = t.session_id
  QUALIFY @latest_version(v.session_id)
)
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
FROM latest AS s
SEMI JOIN core.dim_customers AS c
  ON s.customer_id = c.customer_id
WHERE s.session_date BETWEEN @start_ds AND @end_ds
