"""The bundled sample city: valid, big enough, bilingual, and with its documented findings."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.resources import CITY
from registry.home import Registry
from registry.load import load_valid_home
from registry.vocab import ExtractFormat

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def city() -> tuple[Registry, list[str]]:
    registry, warnings = load_valid_home(CITY)
    return registry, sorted(p.code for p in warnings)


def test_city_validates_with_exactly_the_documented_findings(city: tuple[Registry, list[str]]) -> None:
    _, warnings = city
    assert warnings == ["GOV006", "GOV020", "GOV021"]
    readme = (CITY / "README.md").read_text(encoding="utf-8")
    for code in warnings:
        assert code in readme, f"{code} is not documented in examples/city/README.md"


def test_city_has_the_size_the_issue_asks_for(city: tuple[Registry, list[str]]) -> None:
    registry, _ = city
    assert len(registry.departments) >= 8
    assert len(registry.elements) >= 60
    assert len(registry.datasets) >= 12
    assert len(registry.views) >= 3
    assert len(registry.services) >= 3
    assert registry.agreements and registry.indicators
    for needed in (
        "market_regulation",
        "tax",
        "public_security",
        "hrss",
        "civil_affairs",
        "court",
        "real_estate",
        "big_data_center",
    ):
        assert needed in registry.departments
    formats = {ds.format for ds in registry.datasets.values()}
    assert formats == set(ExtractFormat)
    encodings = {str(ds.encoding) for ds in registry.datasets.values() if ds.format == ExtractFormat.CSV}
    assert {"gbk", "gb18030", "utf-8", "utf-8-sig"} <= encodings


def test_every_name_is_bilingual(city: tuple[Registry, list[str]]) -> None:
    registry, _ = city
    for section, entities in registry.sections():
        for code, entity in entities.items():
            name = getattr(entity, "name", None)
            name_en = getattr(entity, "name_en", None)
            if name is None:
                continue
            assert CJK.search(name), f"{section} {code}: name {name!r} has no Chinese"
            assert name_en and not CJK.search(name_en), f"{section} {code}: English name {name_en!r}"


def test_views_and_indicators_run_on_the_registry_schema(city: tuple[Registry, list[str]]) -> None:
    """Every view and indicator executes in DuckDB over empty tables shaped by the registry."""
    registry, _ = city
    db = duckdb.connect()
    for ds in registry.datasets.values():
        cols = ", ".join(f'"{c.element}" {registry.elements[c.element].type.duckdb_type}' for c in ds.columns)
        db.execute(f'create table "{ds.code}" ({cols})')
    for section in ("views", "indicators"):
        for code, query in registry.section(section).items():
            sql = query.query  # type: ignore[attr-defined]
            assert sql, code
            db.execute(f'create or replace view "{code}" as {sql}')
            db.execute(f'select * from "{code}" limit 0')


def test_replicas_are_backed_by_agreements_valid_today(city: tuple[Registry, list[str]]) -> None:
    registry, _ = city
    replicas = [(ds, c) for ds in registry.datasets.values() for c in ds.columns if c.replica]
    assert replicas, "the sample city should show replicas obtained through sharing"
    for ds, column in replicas:
        agreement = registry.agreements[column.replica]  # type: ignore[index]
        assert agreement.consumer == ds.provider
        assert agreement.is_valid_on(date.today())


def test_division_code_list_is_the_national_list(city: tuple[Registry, list[str]]) -> None:
    registry, _ = city
    divisions = {v.value: v.label for v in registry.codelists["gbt2260"].values}
    assert divisions["500000"] == "重庆市"
    assert divisions["500103"] == "渝中区"
    assert len(divisions) > 3000
    assert Path(CITY, "codelists", "gbt2260-2024.txt").exists()
