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


def test_ingest_bench_loads_both_encodings_and_reports_ratios() -> None:
    figures = load("ingest").main(["--rows", "20000", "--repeat", "1", "--json"])
    assert figures["rows"] == 20000
    assert figures["ratio_utf8"] > 0 and figures["ratio_gbk"] > 0


def test_quality_bench_counts_agree_with_the_hand_written_query() -> None:
    figures = load("quality").main(["--rows", "50000", "--repeat", "1", "--json"])
    assert figures["counts_agree"] is True and figures["errors"] == 0
    assert figures["expectations"] >= 20 and figures["failed"] > 0


def test_graphql_bench_answers_every_query_through_http() -> None:
    figures = load("graphql").main(
        [
            "--departments",
            "3",
            "--elements",
            "60",
            "--datasets",
            "12",
            "--iterations",
            "3",
            "--load",
            "12",
            "--threads",
            "2",
            "--json",
        ]
    )
    assert figures["elements"] == 60
    assert figures["load"]["requests"] == 12 and figures["load"]["requests_per_s"] > 0
    for name in ("element(code)+owner+datasets+lineage depth 2", "search(text)", "dataMap(50)"):
        assert figures[name]["api_p95_ms"] > 0 and figures[name]["sql_p95_ms"] > 0


def test_cli_bench_times_both_pairs_against_their_baselines() -> None:
    figures = load("cli").main(["--repeat", "1", "--json"])
    for name in ("help", "validate"):
        f = figures[name]
        assert f["baseline_seconds"] > 0 and f["seconds"] > 0
        assert abs(f["ratio"] - f["seconds"] / f["baseline_seconds"]) < 0.05  # figures are rounded
        assert f["met"] == (f["ratio"] <= f["target"])
