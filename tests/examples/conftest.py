"""Tests of ``examples/``: the sample city and its generator.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
