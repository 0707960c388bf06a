"""The benchmarks still run (at a tiny scale): a benchmark that rots is no measurement."""

from __future__ import annotations

from tests.support.bench import load


def ratio_of(figures: dict, ratio: str, seconds: str, baseline: str) -> None:  # type: ignore[type-arg]
    """A ratio is the quotient of the two times the same run measured (rounded to two places)."""
    s, b = figures[seconds], figures[baseline]
    assert s > 0 and b > 0
    half = 0.0005  # the times are rounded to the millisecond, the ratio to 0.01
    assert (s - half) / (b + half) - 0.005 <= figures[ratio] <= (s + half) / max(b - half, 1e-9) + 0.005, (
        figures
    )


def test_declarations_bench_times_the_plan_it_says_it_times(capsys) -> None:  # type: ignore[no-untyped-def]
    figures = load("declarations").main(
        ["--departments", "4", "--elements", "120", "--datasets", "12", "--repeat", "1", "--json"]
    )
    assert (figures["departments"], figures["elements"], figures["datasets"]) == (4, 120, 12)
    # the empty store is planned to receive every entity, the applied one nothing: the two timings
    # measure a full plan and a no-op plan, not two no-ops
    assert figures["plan_empty_store"]["create"] >= 4 + 120 + 12
    assert figures["plan_full_store"] == {"create": 0, "update": 0, "delete": 0}
    ratio_of(figures, "ratio_empty_store", "govreg_plan_empty_store_s", "yaml_safe_load_s")
    ratio_of(figures, "ratio_full_store", "govreg_plan_full_store_s", "yaml_safe_load_s")
    assert '"ratio_full_store"' in capsys.readouterr().out


def test_ingest_bench_loads_both_encodings_and_reports_ratios() -> None:
    figures = load("ingest").main(["--rows", "20000", "--repeat", "1", "--json"])
    assert figures["rows"] == 20000
    # both encodings load the same rows (the generator's defects refuse under 1 %)
    assert figures["rows_loaded_utf8"] == figures["rows_loaded_gbk"] > 0.99 * 20000
    ratio_of(figures, "ratio_utf8", "govreg_utf8_s", "plain_read_csv_s")
    ratio_of(figures, "ratio_gbk", "govreg_gbk_s", "plain_read_csv_s")


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
    for name in ("help", "validate", "validate_with_suites", "validate_with_suites_cold"):
        ratio_of(figures[name], "ratio", "seconds", "baseline_seconds")
    for name in ("help", "validate", "validate_with_suites"):
        assert figures[name]["met"] == (figures[name]["ratio"] <= figures[name]["target"])
    # a suite not seen before costs Great Expectations' import; one known to pass does not
    assert figures["validate_with_suites_cold"]["seconds"] > figures["validate_with_suites"]["seconds"]
