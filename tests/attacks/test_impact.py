"""Impact names everyone a change to an element touches, and every source of an affected column.

The attack: a small city where the market regulator's unified social credit code reaches four
departments, only one of them through a sharing agreement's element list. Tax keeps a replica
(under an agreement granting the dataset), public security takes the code from sharing in a
service (unconditional, so no agreement), civil affairs collects it itself (a duplicate), and the
big data center owns a view that takes the code from both the registration table and tax's
replica. ``govreg impact`` (real CLI on a real store after ``apply``) and the GraphQL ``impact``
field (the real app) must name all of them, each with the reason, and the view column's two
sources, not one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from registry.api.app import create_app
from registry.store import Store
from registry.store.tokens import create_token
from tests.support.cli import govreg

HOME = {
    "registry.yaml": 'registry:\n  name: 影响测试市\n  name_en: Impact city\n  division: "500000"\n',
    "departments.yaml": """\
departments:
  - {code: market, name: 影响市市场监督管理局, name_en: Market Regulation}
  - {code: tax, name: 影响市税务局, name_en: Tax}
  - {code: police, name: 影响市公安局, name_en: Public Security}
  - {code: civil, name: 影响市民政局, name_en: Civil Affairs}
  - {code: bdc, name: 影响市大数据中心, name_en: Big Data Center}
""",
    "elements.yaml": """\
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, owner: market,
     status: standard, sharing: unconditional, domain: {check_digit: gb32100}}
  - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard,
     sharing: unconditional}
  - {code: tax_amount, name: 税额, name_en: Tax amount, owner: tax, type: currency, status: standard}
  - {code: org_name, name: 社会组织名称, name_en: Organisation name, owner: civil, status: standard}
""",
    "datasets.yaml": """\
datasets:
  - code: ents
    name: 企业登记
    name_en: Enterprises
    provider: market
    key: [TYSHXYDM]
    columns:
      - {name: TYSHXYDM, element: uscc}
      - {name: QYMC, element: ent_name}
  - code: tax_ents
    name: 纳税企业
    name_en: Taxed enterprises
    provider: tax
    columns:
      - {name: NSRSBH, element: uscc, replica: agr_tax}
      - {name: SE, element: tax_amount}
  - code: orgs
    name: 社会组织
    name_en: Social organisations
    provider: civil
    columns:
      - {name: TYSHXYDM, element: uscc}
      - {name: ZZMC, element: org_name}
""",
    "agreements.yaml": """\
agreements:
  - code: agr_tax
    name: 税务局使用企业登记
    name_en: Tax use of registrations
    consumer: tax
    provider: market
    datasets: [ents]
    purpose: 纳税人登记信息与市场主体登记信息同步。
    legal_basis: 《中华人民共和国税收征收管理法》第十五条。
    approver: 审批人
    approved_on: 2024-01-01
    valid_from: 2024-01-01
    valid_to: 2099-12-31
    status: approved
""",
    "services.yaml": """\
services:
  - code: permit
    name: 许可证核发
    name_en: Permit
    department: police
    elements:
      - {element: uscc, source: sharing}
""",
    "views.yaml": """\
views:
  - {code: ent_tax, name: 企业纳税, name_en: Enterprise tax, owner: bdc, sql: sql/ent_tax.sql}
""",
    "sql/ent_tax.sql": (
        "select coalesce(e.uscc, t.uscc) as uscc, sum(t.tax_amount) as tax\n"
        "from ents e full join tax_ents t on t.uscc = e.uscc\ngroup by 1\n"
    ),
}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("impact")
    home = root / "home"
    for name, text in HOME.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    store = f"sqlite:///{root / 'store.db'}"
    applied = govreg("apply", "--home", str(home), "--store", store, cwd=root)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    result = govreg("impact", "uscc", "--store", store, "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    text = govreg("impact", "uscc", "--store", store, cwd=root)
    assert text.returncode == 0, text.stderr
    return {"root": root, "store": store, "json": json.loads(result.stdout), "text": text.stdout}


def reasons(city: dict[str, Any], department: str) -> list[str]:
    return list(city["json"]["consumers"].get(department, []))


def test_a_replica_counts_as_consumer_by_name(city: dict[str, Any]) -> None:
    assert any("replica" in r and "tax_ents" in r for r in reasons(city, "tax")), reasons(city, "tax")


def test_a_service_taking_the_element_from_sharing_counts(city: dict[str, Any]) -> None:
    assert any("service" in r and "permit" in r for r in reasons(city, "police")), city["json"]["consumers"]


def test_a_department_collecting_it_itself_counts(city: dict[str, Any]) -> None:
    assert any("orgs" in r for r in reasons(city, "civil")), city["json"]["consumers"]


def test_the_owner_of_a_view_reading_it_counts(city: dict[str, Any]) -> None:
    assert any("view" in r and "ent_tax" in r for r in reasons(city, "bdc")), city["json"]["consumers"]
    assert "market" not in city["json"]["consumers"]  # the owner does not consume its own element
    for department in ("tax", "police", "civil", "bdc"):
        assert department in city["text"]  # the tree names them too


def test_every_source_of_a_downstream_column_is_named(city: dict[str, Any]) -> None:
    steps = {s["column"]: s for s in city["json"]["downstream"]}
    assert "ent_tax.uscc" in steps, steps
    assert steps["ent_tax.uscc"]["sources"] == ["ents.uscc", "tax_ents.uscc"]


def test_graphql_impact_says_the_same(city: dict[str, Any]) -> None:
    store = Store(city["store"])
    try:
        _, token = create_token(store, department="bdc", role="reader", actor="tester", reason="test")
        query = (
            '{ impact(elementCode: "uscc") { consumers { department reasons } '
            "downstream { column source sources } } }"
        )
        with TestClient(create_app(store)) as http:
            response = http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        store.dispose()
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    impact = body["data"]["impact"]
    consumers = {c["department"]: c["reasons"] for c in impact["consumers"]}
    assert consumers == city["json"]["consumers"]
    steps = {s["column"]: s for s in impact["downstream"]}
    assert steps["ent_tax.uscc"]["sources"] == ["ents.uscc", "tax_ents.uscc"]
