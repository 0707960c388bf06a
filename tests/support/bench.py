"""The benchmarks, loaded as modules so tests can run them at a tiny scale."""

from __future__ import annotations

import importlib.util

from tests.support.paths import BENCH

__all__ = ["BENCH", "load"]


def load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
