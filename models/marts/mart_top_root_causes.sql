MODEL (
  name marts.mart_top_root_causes,
  signals [data_complete()],
  kind FULL,
  grain (period_type, period_start, root_cause, product_category),
  description 'Tickets by period (month and quarter of opening) x root cause x product category: volume, share of the period, share still open, resolution time mean and median, satisfaction rate. "Top 5 root causes last month by category" is one query: filter period_type = ''month'' and period_start, order by tickets.',
  column_descriptions (
    period_type = 'month or quarter',
    share_of_period = 'Tickets / all tickets opened in the period',
    share_open = 'Share of these tickets not closed by the as-of date',
    satisfaction_rate = 'Share of answered CSAT scores that are 4 or 5; null if none answered',
    period_start = 'First day of the month or quarter',
    root_cause = 'Root cause of the ticket (seeds/root_causes.csv)',
    product_category = 'Category of the product concerned; no_product when none',
    tickets = 'Number of tickets',
    mean_resolution_hours = 'Mean resolution time in hours of the closed tickets',
    median_resolution_hours = 'Median resolution time in hours of the closed tickets'
  ),
  audits (
    no_pii_columns,
    unique_combination_of_columns(columns := (period_type, period_start, root_cause, product_category)),
    not_null(columns := (period_type, period_start, root_cause, product_category, tickets)),
    rate_between_0_and_1(column := share_of_period),
    rate_between_0_and_1(column := share_open)
  )
);

WITH tickets AS (
  SELECT *, CAST(DATE_TRUNC('quarter', opened_date) AS DATE) AS opened_quarter
  FROM marts.mart_ticket_analytics
), periods AS (
  SELECT 'month' AS period_type, opened_month AS period_start, * FROM tickets
  UNION ALL
  SELECT 'quarter', opened_quarter, * FROM tickets
), grouped AS (
  SELECT
    period_type,
    period_start,
    COALESCE(root_cause, 'unknown') AS root_cause,
    product_category,
    COUNT(*) AS tickets,
    AVG(CASE WHEN is_resolved THEN 0.0 ELSE 1.0 END) AS share_open,
    ROUND(AVG(resolution_time_minutes) / 60.0, 2) AS mean_resolution_hours,
    ROUND(MEDIAN(resolution_time_minutes) / 60.0, 2) AS median_resolution_hours,
    AVG(CASE WHEN csat_score >= 4 THEN 1.0 WHEN csat_score IS NOT NULL THEN 0.0 END) AS satisfaction_rate
  FROM periods
  GROUP BY ALL
)
SELECT
  *,
  tickets / SUM(tickets) OVER (PARTITION BY period_type, period_start) AS share_of_period
FROM grouped
