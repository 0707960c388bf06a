"""Tests of ``ingest/``: loading extracts into a real DuckDB file.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
