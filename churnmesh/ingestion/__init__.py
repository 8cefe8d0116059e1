"""Contract-checked, idempotent, per-file atomic loading of landing files into raw.*."""

from churnmesh.ingestion.loader import FileOutcome, IngestReport, ingest

__all__ = ["FileOutcome", "IngestReport", "ingest"]
