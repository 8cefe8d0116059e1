-- Privacy: the marts (what BI tools read) carry no names, contact details, dates of birth or
-- financial figures. The columns come from the classification in churnmesh/contracts.py, through
-- macros/privacy.py. The audit checks the table's columns, not its rows, so an empty table or an
-- all-null column fails too: one row per offending column. DuckDB keeps information_schema in its
-- `system` catalog; unqualified, SQLMesh would look for it in the warehouse's catalog.
AUDIT (
  name no_pii_columns,
  blocking TRUE
);
SELECT column_name
FROM system.information_schema.columns
WHERE table_catalog = @resolve_template('@{catalog_name}')
  AND table_schema = @resolve_template('@{schema_name}')
  AND table_name = @resolve_template('@{table_name}')
  AND LOWER(column_name) IN (@pii_columns_kept_out_of_marts())
