"""The lineage benchmark still runs (on a few statements): a benchmark that rots is no measurement."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.support.bench import BENCH


def load(name: str) -> ModuleType:
    """Like tests.test_bench.load, but registered in sys.modules first (its dataclasses need it)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lineage_bench_reports_throughput_ratios_and_recall(capsys) -> None:  # type: ignore[no-untyped-def]
    figures = load("lineage").main(["--limit", "4", "--repeat", "1", "--no-tpc", "--json"])
    # --limit takes the first cases of the own corpus and of the blind set, each a part of its own
    assert figures["cases"] == 8 and figures["statements"] >= 8
    assert {"corpus", "blind"} <= set(figures["parts"]) and figures["parts"]["blind"]["cases"] == 4
    assert figures["govreg_per_s"] > 0 and figures["sqllineage_per_s"] > 0 and figures["floor_per_s"] > 0
    # each ratio is the quotient of the throughputs the same run measured (rounding aside)
    floor = figures["floor_per_s"] / figures["govreg_per_s"]
    assert abs(figures["ratio_time_govreg_floor"] - floor) <= 0.01 + 0.02 * floor, figures
    versus = figures["govreg_per_s"] / figures["sqllineage_per_s"]
    assert abs(figures["ratio_throughput_govreg_sqllineage"] - versus) <= 0.1 + 0.02 * versus, figures
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
        ["--corpus", str(tmp_path / "none"), "--limit", "2", "--repeat", "1", "--no-tpc", "--json"]
    )
    assert figures["source"] == "city" and figures["cases"] == 2 and figures["labelled_pairs"] == 0


def test_tpc_queries_come_from_duckdb_extensions_and_trace_fully() -> None:
    """TPC-H and TPC-DS, printed by DuckDB's extensions from PyPI, all trace ``ok`` with edges."""
    from lineage.parse import extract_lineage

    data = load("tpc").load()
    assert len(data["tpch"]["queries"]) == 22 and len(data["tpcds"]["queries"]) == 99
    assert data["tpch"]["schema"]["lineitem"][:2] == ["l_orderkey", "l_partkey"]
    outputs = valued = 0
    for name in ("tpch", "tpcds"):
        schema = data[name]["schema"]
        for query in data[name]["queries"]:
            statements = extract_lineage(query["sql"], "duckdb", schema, query["id"])
            assert [s.status for s in statements] == ["ok"] * len(statements), query["id"]
            for statement in statements:
                assert statement.sources and set(statement.sources) <= set(schema), query["id"]
                targets = {e.target.column for e in statement.columns}
                assert set(statement.outputs) <= targets, f"{query['id']}: an output with no edge at all"
                outputs += len(statement.outputs)
                valued += len({e.target.column for e in statement.columns if e.kind != "indirect"})
    # the rest are counts, ranks and constants, which only indirect edges reach (92 % on 1.5.5's text)
    assert valued / outputs > 0.9, f"{valued} of {outputs} outputs carry a value from a source"
    q1 = extract_lineage(data["tpch"]["queries"][0]["sql"], "duckdb", data["tpch"]["schema"], "q1")[0]
    edges = {str(e) for e in q1.columns}
    assert "lineitem.l_extendedprice -> q1.sum_disc_price (aggregation)" in edges
    assert "lineitem.l_returnflag -> q1.l_returnflag (direct)" in edges
    assert "lineitem.l_shipdate -> q1.sum_qty (indirect)" in edges  # the WHERE
