"""The GraphQL catalog end to end: a real uvicorn server on loopback, queried with gql."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from sqlalchemy import event

from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import query_events
from registry.store.tokens import create_token, revoke_token
from tests.support.api import CORE, Server, city_with_a_core_element
from tests.support.backends import BACKENDS, urls
from tests.support.paths import CITY


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The city in a store on SQLite, then on PostgreSQL: every catalog test runs on both."""
    databases = urls(request.param, tmp_path_factory.mktemp("api"))
    store = Store(next(databases)())
    apply_registry(store, city_with_a_core_element(), actor="tester", reason="city", source=str(CITY))
    tokens = {
        name: create_token(store, department=dept, role=role, actor="tester", reason="test")[1]
        for name, dept, role in (
            ("admin", "big_data_center", "center-admin"),
            ("owner", "tax", "reader"),
            ("consumer", "real_estate", "reader"),
            ("other", "market_regulation", "reader"),
            ("steward", "market_regulation", "steward"),
        )
    }
    with Server(store) as server:
        yield {"store": store, "server": server, "tokens": tokens}
    store.dispose()
    next(databases, None)  # drops the PostgreSQL database


def client(env: dict[str, Any], who: str, fetch_schema: bool = False) -> Client:
    headers = {"Authorization": f"Bearer {env['tokens'][who]}"}
    transport = HTTPXTransport(url=env["server"].url + "/graphql", headers=headers, timeout=30)
    return Client(transport=transport, fetch_schema_from_transport=fetch_schema)


def test_introspection_and_every_field_described(env: dict[str, Any]) -> None:
    with client(env, "other", fetch_schema=True) as session:
        session.execute(gql("{ me { department } }"))
        schema = session.client.schema
    assert schema is not None
    for name in (
        "Department",
        "DataElement",
        "Dataset",
        "Column",
        "View",
        "LineageEdge",
        "QualityScore",
        "QualityResult",
        "SharingAgreement",
        "Service",
        "Indicator",
        "AuditEvent",
        "LoadRecord",
    ):
        gtype = schema.type_map[name]
        assert gtype.description, name
        for fname, field in gtype.fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{name}.{fname}"
    for fname, field in schema.query_type.fields.items():  # type: ignore[union-attr]
        assert field.description, f"Query.{fname}"


def test_no_token_or_a_bad_one_is_401(env: dict[str, Any]) -> None:
    url = env["server"].url + "/graphql"
    response = httpx.post(url, json={"query": "{ me { role } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = httpx.post(
        url, json={"query": "{ me { role } }"}, headers={"Authorization": "Bearer grt_nope"}
    )
    assert response.status_code == 401
    assert httpx.get(env["server"].url + "/healthz").json()["status"] == "ok"


def test_graphiql_for_browsers_and_get_queries(env: dict[str, Any]) -> None:
    url = env["server"].url + "/graphql"
    page = httpx.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    auth = {"Authorization": f"Bearer {env['tokens']['other']}"}
    got = httpx.get(url, params={"query": "{ me { department } }"}, headers=auth).json()
    assert got["data"]["me"]["department"] == "market_regulation"
    big = httpx.post(url, content=b"{" + b" " * 10_000 + b"}", headers=auth)
    assert big.status_code == 413


def test_catalog_queries(env: dict[str, Any]) -> None:
    with client(env, "other") as s:
        el = s.execute(
            gql('{ element(code: "uscc") { name owner { code } columns { dataset { code } role } } }')
        )
        assert el["element"]["owner"]["code"] == "market_regulation"
        assert {c["role"] for c in el["element"]["columns"]} >= {"source"}
        dept = s.execute(
            gql(
                '{ department(code: "tax") { owns(first: 3) { totalCount edges { node { code } } '
                "pageInfo { hasNextPage endCursor } } consumes { totalCount } } }"
            )
        )
        owns = dept["department"]["owns"]
        assert len(owns["edges"]) == 3 and owns["pageInfo"]["hasNextPage"] and owns["totalCount"] > 3
        after = owns["pageInfo"]["endCursor"]
        nxt = s.execute(
            gql(
                'query($a: String) { department(code: "tax") { owns(first: 3, after: $a) '
                "{ edges { node { code } } } } }"
            ),
            variable_values={"a": after},
        )
        assert not {e["node"]["code"] for e in nxt["department"]["owns"]["edges"]} & {
            e["node"]["code"] for e in owns["edges"]
        }
        found = s.execute(gql('{ search(text: "信用代码") { edges { node { code } } } }'))
        assert "uscc" in [e["node"]["code"] for e in found["search"]["edges"]]
        flows = s.execute(
            gql(
                "{ dataMap(first: 200) { totalCount edges { node { providerCode consumerCode "
                "kind elements } } } }"
            )
        )
        assert any(e["node"]["kind"] == "agreement" for e in flows["dataMap"]["edges"])
        lin = s.execute(gql("{ views(first: 1) { edges { node { code } } } }"))
        view = lin["views"]["edges"][0]["node"]["code"]
        up = s.execute(
            gql(
                "query($n: String!) { lineage(node: $n, direction: UPSTREAM, depth: 2) "
                "{ nodes { totalCount edges { node { node depth } } } edges { kind } } }"
            ),
            variable_values={"n": view},
        )
        assert up["lineage"]["nodes"]["totalCount"] > 1
        missing = None
        try:
            s.execute(gql('{ element(code: "nope") { code } }'))
        except TransportQueryError as exc:
            missing = exc.errors
        assert missing and missing[0]["extensions"]["code"] == "NOT_FOUND"


QUERY_CORE = f'{{ element(code: "{CORE}") {{ name owner {{ code }} restricted definition }} }}'


@pytest.mark.parametrize(
    ("who", "sees"), [("owner", True), ("admin", True), ("consumer", True), ("other", False)]
)
def test_restricted_definition_of_a_core_element(env: dict[str, Any], who: str, sees: bool) -> None:
    response = httpx.post(
        env["server"].url + "/graphql",
        json={"query": QUERY_CORE},
        headers={"Authorization": f"Bearer {env['tokens'][who]}"},
    ).json()
    element = response["data"]["element"]
    assert element["name"] and element["owner"]["code"] == "tax"  # name and owner: always
    if sees:
        assert element["definition"] and not element["restricted"] and "errors" not in response
    else:
        assert element["definition"] is None and element["restricted"]
        assert response["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert response["errors"][0]["path"] == ["element", "definition"]
        with env["store"].read() as conn:
            denied = list(query_events(conn, action="access_denied", code=CORE))
        assert denied and "market_regulation" in denied[0]["actor"]


def test_depth_and_cost_limits(env: dict[str, Any]) -> None:
    deep = (
        '{ element(code: "uscc") { owner { parent { parent { parent { parent { parent { parent { parent '
        "{ parent { parent { parent { parent { code } } } } } } } } } } } } } }"
    )
    with client(env, "other") as s:
        with pytest.raises(TransportQueryError) as caught:
            s.execute(gql(deep))
        assert caught.value.errors and caught.value.errors[0]["extensions"]["code"] == "DEPTH_LIMIT"
        costly = (
            "{ departments(first: 1000) { edges { node { owns(first: 1000) { edges { node { code columns "
            "{ name } } } } } } } }"
        )
        with pytest.raises(TransportQueryError) as caught:
            s.execute(gql(costly))
        assert caught.value.errors and caught.value.errors[0]["extensions"]["code"] == "COST_LIMIT"


def test_nested_queries_do_not_grow_sql_with_page_size(env: dict[str, Any]) -> None:
    store: Store = env["store"]
    count = 0

    def counter(*_: Any) -> None:
        nonlocal count
        count += 1

    query = (
        "query($n: Int) { elements(first: $n) { edges { node { code owner { name } columns "
        "{ name dataset { code provider { code } } } } } } }"
    )
    counts = []
    event.listen(store.engine, "before_cursor_execute", counter)
    try:
        with client(env, "admin") as s:
            # the first request a server answers does its once-per-process work (the token's
            # first use, the registry snapshot): ask once before counting, so the test compares
            # page sizes and not "first request" against "second"
            s.execute(gql(query), variable_values={"n": 1})
            for n in (2, 80):
                count = 0
                got = s.execute(gql(query), variable_values={"n": n})
                assert len(got["elements"]["edges"]) == n
                counts.append(count)
    finally:
        event.remove(store.engine, "before_cursor_execute", counter)
    assert counts[0] == counts[1], counts


def test_revoked_token_is_refused_and_token_changes_are_audited(env: dict[str, Any]) -> None:
    store: Store = env["store"]
    token, plain = create_token(store, department="court", role="reader", actor="tester", reason="temp")
    url = env["server"].url + "/graphql"
    auth = {"Authorization": f"Bearer {plain}"}
    assert httpx.post(url, json={"query": "{ me { role } }"}, headers=auth).status_code == 200
    revoke_token(store, token.id, actor="tester", reason="done")
    assert httpx.post(url, json={"query": "{ me { role } }"}, headers=auth).status_code == 401
    with store.read() as conn:
        actions = [e["action"] for e in query_events(conn, kind="token", code=str(token.id))]
    assert actions == ["token_revoke", "token_create"]


def test_cursors_round_trip_and_a_forged_one_is_refused() -> None:
    """The API's cursors are opaque offsets; one that is not govreg's is an error, never page one."""
    from registry.api.pagination import decode_cursor, encode_cursor

    assert [decode_cursor(encode_cursor(i)) for i in (0, 1, 999)] == [0, 1, 999]
    assert decode_cursor(None) == -1
    negative = encode_cursor(0).replace(
        encode_cursor(0), __import__("base64").urlsafe_b64encode(b"offset:-5").decode()
    )
    for forged in ("not-a-cursor", negative, "b2Zmc2V0Ong=", "bGltaXQ6Mw=="):  # offset:x, limit:3
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(forged)
