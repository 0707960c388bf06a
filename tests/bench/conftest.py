"""Tests of ``bench/``: each benchmark still runs, at a tiny scale.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
