"""Promise: every refusal is audited, and the log cannot be flooded. A revoked or unknown token,
DEPTH_LIMIT, COST_LIMIT, the alias cap, the time budget, NOT_FOUND and FORBIDDEN each write an
``access_denied`` event (an unknown token named by a hash prefix, never the token); identical
denials (same token or client address, code, entity and field, within the window) are one event
with a count, so 100 identical denials write a handful of events whose counts sum to 100, and the
chain still verifies.

Real parts: the city in a real SQLite store, the real ASGI app under uvicorn on a loopback port
(stopped as ``govreg serve`` is, which flushes the pending counts), httpx as the client, the
store's audit log read back with ``query_events`` and its chain checked with ``verify_chain``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.api.app import MAX_BODY
from registry.api.schema import Limits
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import query_events, verify_chain
from registry.store.tokens import create_token, revoke_token
from tests.support.api import CORE, Server, city_with_a_core_element
from tests.support.paths import CITY

RESTRICTED = (
    f'{{ element(code: "{CORE}") {{ name definition synonyms domain sharingCondition legalBasis }} }}'
)
FIELDS = ("definition", "synonyms", "domain", "sharingCondition", "legalBasis")


HTTP = httpx.Client(timeout=60)  # one client (and SSL context) for every request of the module


class AppServer(Server):
    """tests/registry/api/test_api.py's loopback server, with the app options ``govreg serve`` passes."""

    def __init__(self, store: Store, **options: Any):
        super().__init__(store, **{"max_body": MAX_BODY, **options})


@pytest.fixture
def city(tmp_path: Any) -> Iterator[dict[str, Any]]:
    """A fresh store per test: each counts its own events."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    apply_registry(store, city_with_a_core_element(), actor="tester", reason="city", source=str(CITY))
    tokens = {
        name: create_token(store, department=dept, role=role, actor="tester", reason="refusals")[1]
        for name, dept, role in (("reader", "market_regulation", "reader"), ("other", "court", "reader"))
    }
    yield {"store": store, "tokens": tokens}
    store.dispose()


def post(server: Server, token: str | None, query: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return HTTP.post(server.url + "/graphql", json={"query": query}, headers=headers)


def denials(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        events = [dict(e) for e in query_events(conn, action="access_denied")]
    for e in events:
        e["after_json"] = json.loads(e["after"]) if e.get("after") else {}
    return events


def everything(store: Store) -> str:
    with store.read() as conn:
        return json.dumps([dict(e) for e in query_events(conn)], default=str)


def test_a_revoked_token_is_audited(city: dict[str, Any]) -> None:
    store = city["store"]
    token, plain = create_token(store, department="court", role="reader", actor="tester", reason="temp")
    revoke_token(store, token.id, actor="tester", reason="left")
    with AppServer(store) as server:
        assert post(server, plain, "{ me { role } }").status_code == 401
    found = [e for e in denials(store) if e["after_json"].get("code") == "UNAUTHENTICATED"]
    assert found and f"token:{token.id}:" in found[0]["actor"] and "revoked" in found[0]["reason"]
    assert plain not in everything(store)


def test_an_unknown_token_is_audited_by_a_hash_prefix_never_the_token(city: dict[str, Any]) -> None:
    store = city["store"]
    plain = "grt_" + secrets.token_urlsafe(32)
    with AppServer(store) as server:
        assert post(server, plain, "{ me { role } }").status_code == 401
        assert post(server, None, "{ me { role } }").status_code == 401
    found = [e for e in denials(store) if e["after_json"].get("code") == "UNAUTHENTICATED"]
    assert found and all(e["actor"] == "anonymous@127.0.0.1" for e in found)
    assert any("sha256:" in e["reason"] for e in found)
    assert plain not in everything(store) and plain[4:20] not in everything(store)


@pytest.mark.parametrize(
    ("code", "query", "limits"),
    [
        (
            "DEPTH_LIMIT",
            '{ element(code: "uscc") { owner { parent { parent { parent { parent { parent { parent { parent '
            "{ parent { parent { parent { parent { code } } } } } } } } } } } } } }",
            {},
        ),
        (
            "COST_LIMIT",
            "{ departments(first: 1000) { edges { node { owns(first: 1000) { edges { node { code columns "
            "{ name } } } } } } } }",
            {},
        ),
        ("ALIAS_LIMIT", "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(100)) + " }", {}),
        ("NOT_FOUND", '{ element(code: "no_such_element") { code } }', {}),
        ("FORBIDDEN", RESTRICTED, {}),
        (
            "TIME_LIMIT",
            "{ " + " ".join(f'a{i}: impact(elementCode: "uscc") {{ element }}' for i in range(200)) + " }",
            {"time": 0.02, "aliases": 10_000, "cost": 10**9, "budget": 10**12},
        ),
    ],
)
def test_every_refusal_kind_writes_an_audit_event(
    city: dict[str, Any], code: str, query: str, limits: dict[str, Any]
) -> None:
    """Each refusal's event names its code. (FORBIDDEN was audited before too: that case is a
    control, failing on the old code only because its event did not say which code it was.)"""
    store = city["store"]
    with AppServer(store, limits=Limits(**limits)) as server:
        response = post(server, city["tokens"]["reader"], query)
    assert code in {e["extensions"]["code"] for e in response.json()["errors"]}, response.text[:300]
    found = [e for e in denials(store) if e["after_json"].get("code") == code]
    assert found, f"no access_denied event for {code}"
    assert all("market_regulation" in e["actor"] for e in found)
    if code == "NOT_FOUND":
        assert found[0]["entity_code"] == "no_such_element"


def test_a_hundred_identical_denials_write_a_few_events_whose_counts_sum_to_a_hundred(
    city: dict[str, Any],
) -> None:
    """100 reader requests for five restricted fields wrote 500 events (1,500 in the attack's
    larger query); now at most two per field (the first, then the window's count)."""
    store = city["store"]
    with AppServer(store) as server:
        for _ in range(100):
            response = post(server, city["tokens"]["reader"], RESTRICTED)
            assert {e["extensions"]["code"] for e in response.json()["errors"]} == {"FORBIDDEN"}
        assert post(server, city["tokens"]["other"], RESTRICTED).status_code == 200  # another token
    events = [e for e in denials(store) if "market_regulation" in e["actor"]]
    assert len(events) <= 2 * len(FIELDS), len(events)
    for name in FIELDS:
        counts = [e["after_json"]["count"] for e in events if e["after_json"].get("field") == name]
        assert sum(counts) == 100, (name, counts)
    assert any("court" in e["actor"] for e in denials(store))  # not merged with another token's
    with store.read() as conn:
        assert verify_chain(conn).ok


def test_an_unauthenticated_flood_is_aggregated_per_client_address(city: dict[str, Any]) -> None:
    """A different made-up token on each of 100 requests: one address, one reason, a few events."""
    store = city["store"]
    with AppServer(store) as server:
        for _ in range(100):
            assert post(server, "grt_" + secrets.token_urlsafe(32), "{ me { role } }").status_code == 401
    events = [e for e in denials(store) if e["after_json"].get("code") == "UNAUTHENTICATED"]
    assert 1 <= len(events) <= 2, len(events)
    assert sum(e["after_json"]["count"] for e in events) == 100


def test_varying_the_entity_does_not_flood_the_log(city: dict[str, Any]) -> None:
    """200 NOT_FOUND look-ups of 200 different codes: one caller's distinct keys are capped per
    window, the rest counted under one overflow key."""
    store = city["store"]
    with AppServer(store) as server:
        for i in range(200):
            post(server, city["tokens"]["reader"], f'{{ element(code: "nope_{i}") {{ code }} }}')
    events = [e for e in denials(store) if e["after_json"].get("code") == "NOT_FOUND"]
    assert len(events) <= 52, len(events)
    assert sum(e["after_json"]["count"] for e in events) == 200
    with store.read() as conn:
        assert verify_chain(conn).ok
