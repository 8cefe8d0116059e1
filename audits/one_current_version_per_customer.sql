AUDIT (
  name one_current_version_per_customer,
  blocking TRUE
);
-- SCD type 2: every customer has exactly one version in force, and versions do not overlap.
SELECT customer_id, COUNT(*) FILTER (WHERE is_current) AS current_versions
FROM @this_model
GROUP BY customer_id
HAVING COUNT(*) FILTER (WHERE is_current) <> 1
UNION ALL
SELECT a.customer_id, NULL
FROM @this_model AS a
JOIN @this_model AS b
  ON a.customer_id = b.customer_id AND a.version + 1 = b.version AND a.valid_to <> b.valid_from
