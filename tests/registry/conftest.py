"""Tests of ``registry/``: loading and checking homes, the rules, the metadata store.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
