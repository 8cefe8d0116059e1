"""churnmesh: customer-value and churn analytics on SQLMesh, DuckDB and Prefect."""

__version__ = "0.1.0"
