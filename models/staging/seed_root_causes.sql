MODEL (
  name staging.seed_root_causes,
  kind SEED (path '../../seeds/root_causes.csv'),
  grain root_cause,
  description 'Support root causes with their issue type and severity 1 (minor) to 4 (critical).',
  columns (root_cause TEXT, issue_type TEXT, severity INT, description TEXT),
  column_descriptions (
    root_cause = 'Root cause of the ticket (seeds/root_causes.csv)',
    issue_type = 'Kind of issue: delivery, product, billing, account, app_crash, app_performance, general',
    severity = 'Root cause severity 1 (minor) to 4 (critical)',
    description = 'What the root cause means'
  ),
  audits (unique_values(columns := (root_cause)), accepted_range(column := severity, min_v := 1, max_v := 4))
);
