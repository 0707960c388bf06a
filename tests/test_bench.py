"""The benchmarks still run (at a tiny scale): a benchmark that rots is no measurement."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_declarations_bench_generates_a_valid_home_and_reports_ratios(capsys) -> None:  # type: ignore[no-untyped-def]
    figures = load("declarations").main(
        ["--departments", "4", "--elements", "120", "--datasets", "12", "--repeat", "1", "--json"]
    )
    assert (figures["departments"], figures["elements"], figures["datasets"]) == (4, 120, 12)
    assert figures["ratio_empty_store"] > 0 and figures["ratio_full_store"] > 0
    assert '"ratio_full_store"' in capsys.readouterr().out
