AUDIT (
  name customer_in_dim_customers,
  blocking TRUE
);
-- Referential integrity: every customer a fact mentions has a profile in core.dim_customers.
-- The audited model must depend on core.dim_customers, so this name resolves to the same version.
SELECT f.customer_id
FROM @this_model AS f
ANTI JOIN core.dim_customers AS d
  ON f.customer_id = d.customer_id
