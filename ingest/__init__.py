"""Ingestion of departmental extracts into the DuckDB warehouse (no Dagster here: a library).

>>> from ingest import ingest_file, IngestError, LoadOutcome
"""

from ingest.errors import IngestError
from ingest.load import LoadOutcome, ingest_file, sha256_file

__all__ = ["IngestError", "LoadOutcome", "ingest_file", "sha256_file"]
