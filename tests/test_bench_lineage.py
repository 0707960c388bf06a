"""The lineage benchmark still runs (on a few statements): a benchmark that rots is no measurement."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.test_bench import BENCH


def load(name: str) -> ModuleType:
    """Like tests.test_bench.load, but registered in sys.modules first (its dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lineage_bench_reports_throughput_ratios_and_recall(capsys) -> None:  # type: ignore[no-untyped-def]
    figures = load("lineage").main(["--limit", "4", "--repeat", "1", "--json"])
    assert figures["cases"] == 4 and figures["statements"] >= 4
    assert figures["govreg_per_s"] > 0 and figures["sqllineage_per_s"] > 0 and figures["floor_per_s"] > 0
    assert figures["ratio_throughput_govreg_sqllineage"] > 0 and figures["ratio_time_govreg_floor"] > 0
    assert figures["failed"]["govreg"] == 0
    if figures["source"] == "corpus":
        assert figures["labelled_pairs"] > 0 and figures["recall_govreg"] is not None
    assert '"ratio_time_govreg_floor"' in capsys.readouterr().out


def test_lineage_bench_reads_brace_labels() -> None:
    bench = load("lineage")
    assert sorted(bench.parse_label("orders.{region,amount} -> v.{a,b} indirect")) == [
        ("orders.amount", "v.a", "indirect"),
        ("orders.amount", "v.b", "indirect"),
        ("orders.region", "v.a", "indirect"),
        ("orders.region", "v.b", "indirect"),
    ]
    assert bench.sqllineage_sql(bench.Case("x", "select a from t;", "duckdb", {}, "v", 1)).startswith(
        "INSERT INTO v"
    )


def test_lineage_bench_falls_back_to_the_city_without_a_corpus(tmp_path: Path) -> None:
    figures = load("lineage").main(
        ["--corpus", str(tmp_path / "none"), "--limit", "2", "--repeat", "1", "--json"]
    )
    assert figures["source"] == "city" and figures["cases"] == 2 and figures["labelled_pairs"] == 0
