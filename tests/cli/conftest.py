"""Tests of ``cli/``: the real ``govreg`` command in a subprocess.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
