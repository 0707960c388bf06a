"""Tests of ``pipelines/``: the Dagster definitions, real materializations, the demo.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
