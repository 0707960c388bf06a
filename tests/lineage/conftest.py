"""Tests of ``lineage/``: SQL lineage on the own corpus and the blind one, propagation, OpenLineage.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
