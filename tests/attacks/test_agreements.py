"""Attacks on "agreements are about the owner's data": an agreement's provider owns what it grants.

An agreement names the department that provides the data. One naming a department that does not
own the elements it grants (tax "providing" public security's identity numbers) must not validate
(GOV032), and an ownership transfer must not leave the agreements naming the old owner behind:
they are migrated to the new owner in the same change, each audited, or the transfer is refused
with the agreements that cannot be migrated.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from registry.api.app import create_app
from registry.load import load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import query_events
from registry.store.tokens import create_token
from tests.support.paths import CITY

TRANSFER = """
mutation($code: String!, $to: String!, $reason: String!) {
  transferOwnership(elementCode: $code, toDepartment: $to, reason: $reason) {
    ok changeId errors { code message field } element { code ownerCode }
  }
}"""


def _city(tmp_path: Path) -> Path:
    """The sample city without its views and indicators: what is attacked here is no SQL's."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("views", "indicators"))
    return home


@pytest.fixture
def api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The sample city applied to a real SQLite store, served by the real app, and an admin token."""
    store = Store(f"sqlite:///{tmp_path / 'registry.db'}")
    home = _city(tmp_path)
    registry, _ = load_valid_home(home)
    apply_registry(store, registry, actor="tester", reason="city", source=str(home))
    _, secret = create_token(
        store, department="big_data_center", role="center-admin", label="ops", actor="tester", reason="t"
    )
    with TestClient(create_app(store)) as http:
        yield {"store": store, "http": http, "secret": secret}
    store.dispose()


def _transfer(api: dict[str, Any], code: str, to: str) -> dict[str, Any]:
    response = api["http"].post(
        "/graphql",
        json={"query": TRANSFER, "variables": {"code": code, "to": to, "reason": "职能调整"}},
        headers={"Authorization": f"Bearer {api['secret']}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"]["transferOwnership"])


def _stored(api: dict[str, Any], section: str, code: str) -> dict[str, Any]:
    specs = api["store"].read_specs()
    return dict(json.loads(specs[section][code]))


def test_validate_refuses_an_agreement_whose_provider_does_not_own_the_element(tmp_path: Path) -> None:
    """Tax "provides" public security's identity number to civil affairs: GOV032, exit 1."""
    home = _city(tmp_path)
    (home / "agreements" / "forged.yaml").write_text(
        "agreements:\n"
        "  - code: agr_civil_tax_identity\n"
        "    consumer: civil_affairs\n"
        "    provider: tax\n"
        "    elements: [id_number]\n"
        "    purpose: 核验低保申请人身份\n"
        "    valid_from: 2024-01-01\n"
        "    status: requested\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--json"])
    assert result.exit_code == 1, result.output
    found = [p for p in json.loads(result.stdout)["problems"] if p["code"] == "GOV032"]
    assert len(found) == 1, found
    assert "'tax'" in found[0]["message"] and "'public_security'" in found[0]["message"]
    assert found[0]["file"].endswith("forged.yaml") and found[0]["line"] == 2


def test_validate_refuses_an_ownership_moved_in_git_but_not_its_agreements(tmp_path: Path) -> None:
    """The owner of tax_paid_amount is changed in the YAML, its two agreements still name tax."""
    home = _city(tmp_path)
    elements = home / "elements" / "tax.yaml"
    text = elements.read_text(encoding="utf-8")
    start = text.index("code: tax_paid_amount")
    owner = text.index("owner: tax", start)
    elements.write_text(text[:owner] + "owner: hrss" + text[owner + len("owner: tax") :], encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--json"])
    assert result.exit_code == 1, result.output
    flagged = {
        p["message"].split("'")[1] for p in json.loads(result.stdout)["problems"] if p["code"] == "GOV032"
    }
    assert flagged == {"agr_real_estate_tax", "agr_bdc_tax_profile"}


def test_transfer_migrates_the_agreements_that_named_the_old_owner(api: dict[str, Any]) -> None:
    """tax_paid_amount moves from tax to hrss: both agreements that tax provided it under now name
    hrss, in the same change, each with its own audit event, and the store still validates."""
    got = _transfer(api, "tax_paid_amount", "hrss")
    assert got["ok"], got["errors"]
    assert got["element"]["ownerCode"] == "hrss"
    for code in ("agr_real_estate_tax", "agr_bdc_tax_profile"):
        assert _stored(api, "agreements", code)["provider"] == "hrss"
    with api["store"].read() as conn:
        events = [e for e in query_events(conn) if e["change_id"] == got["changeId"]]
    moved = {(e["action"], e["entity_kind"], e["entity_code"]) for e in events}
    assert moved == {
        ("update", "element", "tax_paid_amount"),
        ("update", "agreement", "agr_real_estate_tax"),
        ("update", "agreement", "agr_bdc_tax_profile"),
    }
    assert {e["reason"] for e in events} == {"职能调整"}
    # an agreement that named the old owner for something else is left as it was
    assert _stored(api, "agreements", "agr_civil_hrss")["provider"] == "hrss"


def test_transfer_is_refused_when_an_agreement_grants_other_data_of_the_old_owner(
    api: dict[str, Any],
) -> None:
    """agr_civil_hrss grants contribution_base with insurance_status, both hrss's: moving only
    contribution_base to tax cannot migrate it, so the transfer is refused, naming it."""
    before = api["store"].read_specs()
    got = _transfer(api, "contribution_base", "tax")
    assert not got["ok"]
    assert [e["code"] for e in got["errors"]] == ["GOV032"]
    assert "agr_civil_hrss" in got["errors"][0]["message"]
    assert "insurance_status" in got["errors"][0]["message"]
    assert api["store"].read_specs() == before


def test_transfer_is_refused_when_the_new_owner_is_a_consumer(api: dict[str, Any]) -> None:
    """real_estate takes tax_paid_amount from tax under agr_real_estate_tax: making real_estate its
    owner would leave an agreement where it provides to itself; refused, naming the agreement."""
    before = api["store"].read_specs()
    got = _transfer(api, "tax_paid_amount", "real_estate")
    assert not got["ok"]
    assert "GOV032" in [e["code"] for e in got["errors"]]
    assert any("agr_real_estate_tax" in e["message"] for e in got["errors"])
    assert api["store"].read_specs() == before
