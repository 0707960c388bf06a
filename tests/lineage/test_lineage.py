"""Lineage on the sample city: propagation, the exposure rule, the stored graph, impact, Dagster."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from lineage.graph import LineageGraph, Node
from lineage.models import ColumnRef
from lineage.propagate import Propagation
from lineage.views import RegistryLineage
from pipelines.resources import CITY
from registry.load import load_home, load_valid_home
from registry.rules import check_rules
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.lineage import coverage, read_edges, statements
from tests.support.cli import govreg

TODAY = date(2026, 6, 1)


@pytest.fixture(scope="module")
def city():  # type: ignore[no-untyped-def]
    registry, _ = load_valid_home(CITY)
    return registry, RegistryLineage(registry)


def copy_city(tmp_path: Path) -> Path:
    home = tmp_path / "city"
    shutil.copytree(CITY, home)
    return home


def test_personal_information_reaches_the_enterprise_360_view(city) -> None:  # type: ignore[no-untyped-def]
    registry, parsed = city
    propagation = Propagation(registry, parsed)
    legal = propagation.columns[ColumnRef("enterprise_360", "legal_representative")]
    assert legal.personal == "personal" and "legal_representative" in legal.elements
    assert legal.paths == (
        "enterprise_registration.legal_representative -> enterprise_360.legal_representative",
    )
    assert propagation.view_personal("enterprise_360") == "personal"
    # the strictest source level wins (就高从严): tax amounts are sensitive
    assert propagation.columns[ColumnRef("enterprise_360", "tax_paid_amount")].security == "sensitive"
    assert propagation.view_security("enterprise_360") == "sensitive"
    # indirect edges carry no values: a join key does not make every column personal
    assert propagation.columns[ColumnRef("enterprise_360", "enterprise_name")].personal == "none"
    assert propagation.view_sharing("enterprise_360") == "conditional"


def test_a_view_exposing_conditional_data_without_a_grant_is_flagged_with_its_path(tmp_path: Path) -> None:
    home = copy_city(tmp_path)
    agreements = home / "agreements" / "agreements.yaml"
    text = agreements.read_text(encoding="utf-8")
    agreements.write_text(text[: text.index("  # Found by GOV030")], encoding="utf-8")
    registry, _ = load_home(home)
    found = [p for p in check_rules(registry, TODAY) if p.code == "GOV030"]
    assert len(found) == 1
    assert "tax_payment.tax_paid_amount -> enterprise_360.tax_paid_amount" in found[0].message
    assert found[0].location.file.endswith("views/enterprise_360.yaml")


def test_an_agreement_granting_a_view_needs_grants_for_its_sources(tmp_path: Path) -> None:
    home = copy_city(tmp_path)
    extra = home / "agreements" / "view.yaml"
    extra.write_text(
        "agreements:\n"
        "  - code: agr_health_360\n    name: 卫健委使用企业画像\n    name_en: Health use of the 360 profile\n"
        "    consumer: health\n    datasets: [enterprise_360]\n    purpose: 医疗机构监管\n"
        "    approver: 吴静\n    valid_from: 2024-01-01\n    valid_to: 2030-12-31\n    status: approved\n",
        encoding="utf-8",
    )
    registry, problems = load_home(home)
    assert not [p for p in problems if p.is_error]
    found = [p for p in check_rules(registry, TODAY) if p.code == "GOV030" and "agr_health_360" in p.message]
    assert found and all(p.location.file.endswith("agreements/view.yaml") for p in found)
    assert any("tax_paid_amount" in p.message for p in found)


def test_declassification_only_on_aggregated_columns(tmp_path: Path) -> None:
    home = copy_city(tmp_path)
    view = home / "views" / "enterprise_360.yaml"
    text = view.read_text(encoding="utf-8")
    rule = (
        "    declassify:\n"
        "      - {column: tax_paid_amount, security: internal, reason: 汇总金额不含明细}\n"
        "      - {column: legal_representative, personal: none, reason: 错误示例}\n"
    )
    view.write_text(text.rstrip("\n") + "\n" + rule, encoding="utf-8")
    registry, problems = load_home(home)
    assert not [p for p in problems if p.is_error], problems
    found = {p.message.split("'")[3]: p.message for p in check_rules(registry, TODAY) if p.code == "GOV031"}
    assert set(found) == {"legal_representative", "tax_paid_amount"}
    assert "copies its source directly" in found["legal_representative"]
    # a sum per taxpayer is still one enterprise's tax: taxpayer_id is part of tax_payment's key
    assert "aggregated per tax_payment.taxpayer_id" in found["tax_paid_amount"]
    propagation = Propagation(registry, RegistryLineage(registry))
    for column in ("tax_paid_amount", "legal_representative"):
        kept = propagation.columns[ColumnRef("enterprise_360", column)]
        assert kept.declassified is None
    assert propagation.columns[ColumnRef("enterprise_360", "legal_representative")].personal == "personal"


def test_apply_stores_lineage_and_coverage(tmp_path: Path, city) -> None:  # type: ignore[no-untyped-def]
    registry, parsed = city
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    apply_registry(store, registry, actor="t", reason="t", source="t")
    rows = statements(store)
    assert len(rows) == len(registry.views) + len(registry.indicators)
    edges = read_edges(store)
    assert sorted(edges) == sorted(e for _, e in parsed.edges())
    report = coverage(rows)
    assert report["dialects"]["duckdb"]["ok"] == len(rows)
    assert set(report["departments"]) == {
        q.owner for q in [*registry.views.values(), *registry.indicators.values()]
    }


def test_graph_walks_with_depth_and_pages_with_cursors(city) -> None:  # type: ignore[no-untyped-def]
    _, parsed = city
    graph = LineageGraph(e for _, e in parsed.edges())
    down = graph.walk(Node("tax_payment", "tax_paid_amount"), "downstream", depth=5)
    assert [str(s.node) for s in down] == ["tax_payment.tax_paid_amount", "enterprise_360.tax_paid_amount"]
    up = graph.walk(Node("enterprise_360"), "upstream", depth=1)
    assert {str(s.node) for s in up[1:]} == set(parsed.view("enterprise_360").sources)
    values_only = graph.walk(Node("enterprise_registration", "uscc"), "downstream", include_indirect=False)
    with_indirect = graph.walk(Node("enterprise_registration", "uscc"), "downstream")
    assert len(values_only) < len(with_indirect)


def test_impact_command_names_views_and_consumers(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert govreg("apply", "--home", str(CITY), "--store", store, cwd=tmp_path).returncode == 0
    result = govreg("impact", "tax_paid_amount", "--store", store, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["columns"] == ["tax_payment.tax_paid_amount"]
    assert data["views"] == ["enterprise_360"]
    assert set(data["consumers"]) == {"big_data_center", "real_estate"}
    missing = govreg("impact", "no_such_element", "--store", store, cwd=tmp_path)
    assert missing.returncode == 1 and "no element" in missing.stderr


def test_view_assets_carry_column_lineage(city) -> None:  # type: ignore[no-untyped-def]
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.resources import Settings

    _, parsed = city
    specs = {s.key: s for s in build_definitions(Settings.from_env()).resolve_all_asset_specs()}
    spec = specs[dg.AssetKey(["big_data_center", "enterprise_360"])]
    lineage = spec.metadata["dagster/column_lineage"]
    deps = lineage.deps_by_column["tax_paid_amount"]
    assert [(d.asset_key.path, d.column_name) for d in deps] == [(["tax", "tax_payment"], "tax_paid_amount")]
    assert {d.asset_key.path[-1] for d in spec.deps} == set(parsed.view("enterprise_360").sources)
