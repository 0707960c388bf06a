"""Tests of ``expectations/``: the quality gate, Great Expectations suites, real Dagster checks.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
