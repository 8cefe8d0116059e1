MODEL (
  name marts.mart_app_version_impact,
  signals [data_complete()],
  kind FULL,
  grain app_version,
  description 'Per app version, as of the as-of date: its users (customers with a session on it), the tickets opened from it, tickets per 100 users, the churned share of its users, and the same rate over the three versions before it (the trailing baseline). A version whose ticket rate is more than twice its baseline is flagged as a spike.',
  column_descriptions (
    first_seen_date = 'First day a session used this version',
    tickets_per_100_users = 'Tickets from this version per 100 of its users',
    baseline_tickets_per_100_users = 'Mean rate of the three preceding versions; null for the first',
    is_ticket_spike = 'Rate above twice the baseline',
    app_version = 'Mobile app version (semantic version); null for web',
    users = 'Customers with at least one session on the version',
    tickets = 'Number of tickets',
    churned_user_share = 'Share of the version''s users who are churned'
  ),
  audits (
    no_pii_columns,
    unique_values(columns := (app_version)),
    not_null(columns := (app_version, users, tickets)),
    rate_between_0_and_1(column := churned_user_share)
  )
);

WITH usage AS (
  SELECT app_version, MIN(session_date) AS first_seen_date, COUNT(DISTINCT customer_id) AS users
  FROM core.fct_sessions
  WHERE app_version IS NOT NULL AND session_date <= @as_of_date()
  GROUP BY app_version
), churned_users AS (
  SELECT s.app_version, COUNT(DISTINCT s.customer_id) AS churned_users
  FROM core.fct_sessions AS s
  JOIN intermediate.int_customer_lifecycle AS l
    ON s.customer_id = l.customer_id AND l.lifecycle_stage = 'churned'
  WHERE s.app_version IS NOT NULL AND s.session_date <= @as_of_date()
  GROUP BY s.app_version
), tickets AS (
  SELECT app_version, COUNT(*) AS tickets
  FROM core.fct_support_tickets
  WHERE app_version IS NOT NULL
  GROUP BY app_version
), rates AS (
  SELECT
    u.app_version,
    u.first_seen_date,
    u.users,
    COALESCE(t.tickets, 0) AS tickets,
    100.0 * COALESCE(t.tickets, 0) / u.users AS tickets_per_100_users,
    COALESCE(c.churned_users, 0) / u.users AS churned_user_share
  FROM usage AS u
  LEFT JOIN tickets AS t ON u.app_version = t.app_version
  LEFT JOIN churned_users AS c ON u.app_version = c.app_version
)
SELECT
  *,
  AVG(tickets_per_100_users) OVER (ORDER BY first_seen_date, app_version ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS baseline_tickets_per_100_users,
  COALESCE(
    tickets_per_100_users > 2 * AVG(tickets_per_100_users) OVER (ORDER BY first_seen_date, app_version ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING),
    FALSE
  ) AS is_ticket_spike
FROM rates
