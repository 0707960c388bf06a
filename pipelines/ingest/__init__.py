"""Ingestion of departmental extracts into the DuckDB warehouse (no Dagster here: a library).

>>> from pipelines.ingest import ingest_file, IngestError, LoadOutcome
"""

from pipelines.ingest.errors import IngestError
from pipelines.ingest.load import LoadOutcome, ingest_file, sha256_file

__all__ = ["IngestError", "LoadOutcome", "ingest_file", "sha256_file"]
