"""One truth between git and the API, apply side: ``apply`` from git does not delete what the
API made (the export side is tests/attacks/test_export.py).

Real parts: the city copied into a git repository, the real ``govreg`` command, a real SQLite
store, the real GraphQL server on loopback for the access request and its approval.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.store import Store
from registry.store.tokens import create_token
from tests.support.api import Server
from tests.support.cli import govreg
from tests.support.paths import CITY

TODAY = date.today()
REQUEST = """
mutation($from: Date!, $to: Date) {
  requestAccess(consumer: "market_regulation", elements: ["bank_account_number"],
                purpose: "核验企业退税账户", legalBasis: "《税收征收管理法》",
                validFrom: $from, validTo: $to, reason: "退税核验") {
    ok errors { code message } agreement { code status }
  }
}"""
DECIDE = """
mutation($code: String!) {
  decideAccess(agreementCode: $code, approve: true, reason: "用途明确，期限一年") {
    ok errors { code message } agreement { code status approver }
  }
}"""


def git(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=home, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, str]:
    """The city as a git repository, applied to a store from git."""
    home = tmp_path / "home"
    shutil.copytree(CITY, home)
    for args in (
        ("init", "-q"),
        ("config", "user.email", "t@example.org"),
        ("config", "user.name", "t"),
        ("add", "."),
        ("commit", "-q", "-m", "city"),
    ):
        assert git(home, *args).returncode == 0
    store = f"sqlite:///{tmp_path / 'store.db'}"
    applied = govreg("apply", "--home", str(home), "--store", store, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    return home, store


def approved_through_the_api(url: str) -> tuple[str, str]:
    """Market regulation requests tax's bank account numbers, tax's steward approves: over HTTP."""
    store = Store(url)
    try:
        tokens = {
            dept: create_token(store, department=dept, role="steward", actor="tester", reason="test")
            for dept in ("market_regulation", "tax")
        }
        with Server(store) as server:

            def call(dept: str, query: str, **variables: Any) -> dict[str, Any]:
                reply = httpx.post(
                    server.url + "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {tokens[dept][1]}"},
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
                return dict(reply.json()["data"])

            term = {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=365)).isoformat()}
            asked = call("market_regulation", REQUEST, **term)["requestAccess"]
            assert asked["ok"], asked
            code = asked["agreement"]["code"]
            decided = call("tax", DECIDE, code=code)["decideAccess"]
            assert decided["ok"] and decided["agreement"]["status"] == "APPROVED", decided
            return code, str(tokens["tax"][0].actor)
    finally:
        store.dispose()


def test_apply_from_git_keeps_an_agreement_approved_through_the_api(world: tuple[Path, str]) -> None:
    home, url = world
    code, approver = approved_through_the_api(url)
    before = Store(url).dump()

    plan = govreg("plan", "--home", str(home), "--store", url, cwd=home.parent)
    assert plan.returncode == 0, plan.stderr
    assert code in plan.stdout
    assert f"made through the API on {TODAY.isoformat()} by {approver}" in plan.stdout
    assert "export before apply, or --prune to remove" in plan.stdout

    refused = govreg("apply", "--home", str(home), "--store", url, cwd=home.parent)
    assert refused.returncode == 1, refused.stdout
    assert "GOV037" in refused.stderr and code in refused.stderr
    assert Store(url).dump() == before  # nothing deleted, nothing audited

    as_json = json.loads(
        govreg("plan", "--home", str(home), "--store", url, "--json", cwd=home.parent).stdout
    )
    (change,) = [c for c in as_json["changes"] if c["code"] == code]
    assert change["action"] == "delete" and change["origin"]["actor"] == approver
    assert change["origin"]["mutation"] == "decideAccess"

    pruned = govreg("apply", "--home", str(home), "--store", url, "--prune", cwd=home.parent)
    assert pruned.returncode == 0, pruned.stderr
    assert code not in Store(url).read_specs()["agreements"]


def test_apply_from_git_still_deletes_what_git_made(world: tuple[Path, str]) -> None:
    """The guard is about the API's work only: removing a git-made agreement from git deletes it."""
    home, url = world
    path = home / "agreements" / "agreements.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - code: agr_tax_market")
    end = text.index("  - code:", start + 10)
    path.write_text(text + "\n" + text[start:end].replace("agr_tax_market", "agr_tax_market_copy"), "utf-8")
    added = govreg("apply", "--home", str(home), "--store", url, cwd=home.parent)
    assert added.returncode == 0, added.stderr
    assert "agr_tax_market_copy" in Store(url).read_specs()["agreements"]
    path.write_text(text, encoding="utf-8")
    applied = govreg("apply", "--home", str(home), "--store", url, cwd=home.parent)
    assert applied.returncode == 0, applied.stderr
    assert "agr_tax_market_copy" not in Store(url).read_specs()["agreements"]
