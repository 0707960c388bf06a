"""The generator's defects prove the checks: not only the kinds the checks were built for.

"99 of 99 defects found" proves little if the generator injects only check characters, nulls,
out-of-domain codes and duplicate keys, the kinds the checks were written against. The attack: the
sample city's extracts must also carry values that break an element's pattern, range, length and
date format, each breaking that one rule only; a real Dagster run over a real DuckDB file loads
them, and every injected defect must be found, counted the same way (found / injected per dataset,
column and kind), by the standard that owns the rule, or, for a date that is no date, by the load
that sets its row aside.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from examples.generator import generate
from examples.generator.reconcile import reconcile
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import CITY, Settings
from registry.load import load_valid_home
from registry.store import Store
from registry.store.loads import list_loads
from registry.store.quality import latest_results
from registry.vocab import DataType

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
KINDS = ("pattern", "range", "length", "date_format")
RULE = {"null": "required", "check_digit": "check_digit", "out_of_domain": "codes"}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("defects")
    registry, _ = load_valid_home(CITY)
    manifest = generate(registry, root / "data", rows=2000, seed=11, today=date(2026, 3, 1)).as_json()
    settings = Settings(
        home=CITY,
        store_url=f"sqlite:///{root / 'store.db'}",
        data=root / "data",
        warehouse=root / "data" / "warehouse.duckdb",
        automation=False,
    )
    with dg.instance_for_test() as instance:
        result = (
            build_definitions(settings)
            .resolve_job_def(CITY_JOB)
            .execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
        )
    store = Store(settings.store_url)
    try:
        results = {code: latest_results(store, code) for code in registry.datasets}
        loads = {code: next(list_loads(store, dataset=code, limit=1)) for code in registry.datasets}
    finally:
        store.dispose()
    return {
        "registry": registry,
        "manifest": manifest,
        "settings": settings,
        "result": result,
        "results": results,
        "loads": loads,
    }


def injected(city: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (code, column, kind, n)
        for code, entry in city["manifest"]["datasets"].items()
        for column, counts in entry["defects"]["columns"].items()
        for kind, n in counts.items()
    ]


def found(city: dict[str, Any], code: str, column: str, kind: str) -> int | None:
    """What govreg found of one injected defect, recounted here from the store."""
    registry = city["registry"]
    ds = registry.datasets[code]
    element = registry.elements[next(c.element for c in ds.columns if c.name == column)]
    if kind == "date_format" and element.type in (DataType.DATE, DataType.DATETIME):
        return int(city["loads"][code]["cast_failures"].get(column, 0))  # the row was set aside
    key = f"{RULE.get(kind, kind)}:{element.code}"
    counts = {r["key"]: r["unexpected_count"] for r in city["results"][code]}
    return counts.get(key)


def test_the_generator_injects_pattern_range_length_and_date_defects(city: dict[str, Any]) -> None:
    kinds = {kind for _, _, kind, n in injected(city) if n}
    assert set(KINDS) <= kinds, f"only {sorted(kinds)} are injected"
    per_kind = {k: sum(n for _, _, kind, n in injected(city) if kind == k) for k in KINDS}
    assert all(n >= 10 for n in per_kind.values()), per_kind


def test_every_injected_defect_is_found_counted_the_same_way(city: dict[str, Any]) -> None:
    assert city["result"].success
    rows = injected(city)
    misses = [(code, column, kind, n, found(city, code, column, kind)) for code, column, kind, n in rows]
    misses = [m for m in misses if m[3] != m[4]]
    total = sum(n for *_, n in rows)
    assert not misses, f"{total - sum(m[3] for m in misses)} of {total} found; missed {misses}"
    # the demo's own reconciliation says the same, over every kind
    loads = {code: record["cast_failures"] for code, record in city["loads"].items()}
    reconciled = reconcile(city["registry"], city["manifest"], city["results"], loads)
    assert {r["defect"] for r in reconciled} >= set(KINDS)
    assert [r for r in reconciled if not r["match"]] == []
    keyed = [e for e in city["manifest"]["datasets"].values() if "duplicate_key" in e["defects"]]
    assert len(reconciled) == len(rows) + len(keyed)  # and one row per dataset's duplicate keys


def test_a_date_that_is_no_date_is_set_aside_with_its_value(city: dict[str, Any]) -> None:
    """The set-aside rows are in ``<dataset>__rejects``, holding the bad date the file carried."""
    registry = city["registry"]
    con = duckdb.connect(str(city["settings"].warehouse), read_only=True)
    checked = 0
    try:
        for code, column, kind, n in injected(city):
            ds = registry.datasets[code]
            element = registry.elements[next(c.element for c in ds.columns if c.name == column)]
            if kind != "date_format" or element.type not in (DataType.DATE, DataType.DATETIME):
                continue
            checked += 1
            values = [
                v
                for (v,) in con.execute(
                    f'SELECT value FROM "{code}__rejects" WHERE source_column = ?', [column]
                ).fetchall()
            ]
            assert len(values) == n, (code, column)
            fmt = element.domain.date_format or "%Y-%m-%d"
            for v in values:  # the file's own text, which is no date in the element's format
                with pytest.raises(ValueError):
                    datetime.strptime(v, fmt)
    finally:
        con.close()
    assert checked, "no date column carried a date that is no date: nothing was tried"


def test_each_domain_defect_breaks_only_its_own_rule(city: dict[str, Any]) -> None:
    """A pattern defect is no length defect as well: every other standard of the column holds."""
    registry = city["registry"]
    tried = {kind for _, _, kind, _ in injected(city)}
    assert {"pattern", "range", "length"} <= tried, tried  # else there is nothing to break twice
    for code, entry in city["manifest"]["datasets"].items():
        ds = registry.datasets[code]
        counts = {r["key"]: r["unexpected_count"] for r in city["results"][code] if r["suite"] == "standards"}
        claimed = {
            f"{RULE.get(kind, kind)}:{next(c.element for c in ds.columns if c.name == column)}"
            for column, kinds in entry["defects"]["columns"].items()
            for kind in kinds
        }
        for key, n in counts.items():
            if key not in claimed and not key.startswith("unique:"):  # duplicates: test_quality
                assert n in (0, None), (code, key, n)


def test_found_figure_is_not_inflated_by_kinds_never_injected(tmp_path: Path) -> None:
    """No defect kind is claimed with a zero count (a 0-of-0 "match" would pad the figure)."""
    registry, _ = load_valid_home(CITY)
    manifest = generate(registry, tmp_path, rows=500, seed=3, today=date(2026, 3, 1)).as_json()
    zeros = [
        (code, column, kind)
        for code, entry in manifest["datasets"].items()
        for column, counts in entry["defects"]["columns"].items()
        for kind, n in counts.items()
        if kind in KINDS and n == 0
    ]
    assert zeros == []
    claimed = {
        kind
        for entry in manifest["datasets"].values()
        for counts in entry["defects"]["columns"].values()
        for kind, n in counts.items()
        if kind in KINDS and n
    }
    assert claimed == set(KINDS), claimed  # every kind is injected somewhere, with a count
