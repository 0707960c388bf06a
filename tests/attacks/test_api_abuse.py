"""Promise: a request is bounded by the work it causes. Every field is costed by what its resolver
does (a whole-registry report its size, a list its page, introspection counted), aliases and
selections are capped before graphql-core's own (quadratic) validation runs, every request has a
time budget (``TIME_LIMIT``), each token has a cost budget (``RATE_LIMIT``) and a limit of heavy
requests in flight (``TOO_MANY_REQUESTS``), while another token is still served.

Real parts: the city in a real SQLite store, the real ASGI app under uvicorn on a loopback port
(the limits passed as ``govreg serve`` would), httpx as the client, SQLAlchemy's statement events
to see whether a refused request read anything.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy import event

from registry.api.app import MAX_BODY
from registry.api.schema import Limits
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import query_events
from registry.store.tokens import create_token
from tests.support.api import Server, city_with_a_core_element
from tests.support.paths import CITY

BIG = 1024 * 1024
REPORT = "{ " + " ".join(f"a{i}: conflicts(first: 1) {{ totalCount }}" for i in range(1000)) + " }"
IMPACT = (
    "{ " + " ".join(f'a{i}: impact(elementCode: "uscc") {{ element columns }}' for i in range(1000)) + " }"
)
# every size, alias and cost limit raised: IMPACT is then served, and only a time budget stops it
PASSED: dict[str, Any] = {
    "query": 10**6,
    "tokens": 10**6,
    "aliases": 10_000,
    "selections": 100_000,
    "cost": 10**9,
    "budget": 10**12,
}
NEST = (
    '{ element(code: "uscc") { columns { dataset { columns { element { columns { dataset { columns '
    "{ element { columns { dataset { code } } } } } } } } } } } }"
)


HTTP = httpx.Client(timeout=60)  # one client (and SSL context) for every request of the module


class AppServer(Server):
    """tests/registry/api/test_api.py's loopback server, with the app options ``govreg serve`` passes."""

    def __init__(self, store: Store, **options: Any):
        super().__init__(store, **{"max_body": MAX_BODY, **options})


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('abuse') / 'store.db'}")
    apply_registry(store, city_with_a_core_element(), actor="tester", reason="city", source=str(CITY))
    tokens = {
        name: create_token(store, department=dept, role=role, actor="tester", reason="abuse")[1]
        for name, dept, role in (
            ("reader", "market_regulation", "reader"),
            ("other", "court", "reader"),
            ("admin", "big_data_center", "center-admin"),
        )
    }
    yield {"store": store, "tokens": tokens}
    store.dispose()


def post(server: Server, token: str, query: str, timeout: float = 120) -> httpx.Response:
    return HTTP.post(
        server.url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def codes(response: httpx.Response) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in response.json().get("errors") or []}


class Statements:
    """The SQL statements the store runs while in the ``with`` block."""

    def __init__(self, store: Store):
        self.store, self.seen = store, []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(" ".join(statement.split()))

    @property
    def resolver_work(self) -> list[str]:
        """Statements that build the registry (specs) or read lineage: what the reports do."""
        return [s for s in self.seen if ".spec" in s or "lineage_edges" in s]

    def __enter__(self) -> Statements:
        event.listen(self.store.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self)


# By default the text is refused unparsed for its size; with the size limits raised, the alias cap.
SIZES = [
    pytest.param({}, "PAYLOAD_TOO_LARGE", id="default"),
    pytest.param({"query": 10**6, "tokens": 10**6}, "ALIAS_LIMIT", id="size-limits-raised"),
]


@pytest.mark.parametrize(("limits", "code"), SIZES)
def test_a_thousand_aliases_of_a_whole_registry_report_are_refused_before_any_work(
    city: dict[str, Any], limits: dict[str, int], code: str
) -> None:
    """The 38 KB request of 1,000 ``conflicts(first: 1) { totalCount }`` took 70 s of CPU."""
    with (
        AppServer(city["store"], max_body=BIG, limits=Limits(**limits)) as server,
        Statements(city["store"]) as sql,
    ):
        response = post(server, city["tokens"]["reader"], REPORT)
    assert len(REPORT) > 30_000
    assert codes(response) == {code}, response.text[:300]
    assert response.json()["data"] is None  # nothing was resolved
    assert not sql.resolver_work, sql.resolver_work[:3]  # no registry was built, no report run


@pytest.mark.parametrize(("limits", "code"), SIZES)
def test_a_thousand_impact_aliases_are_refused(
    city: dict[str, Any], limits: dict[str, int], code: str
) -> None:
    with (
        AppServer(city["store"], max_body=BIG, limits=Limits(**limits)) as server,
        Statements(city["store"]) as sql,
    ):
        response = post(server, city["tokens"]["reader"], IMPACT)
    assert codes(response) == {code}, response.text[:300]
    assert response.json()["data"] is None and not sql.resolver_work, sql.resolver_work[:3]


def test_the_aliases_of_a_report_are_costed_by_the_registry_size_not_as_one_node(
    city: dict[str, Any],
) -> None:
    """Under the alias cap, ten reports still cost ten registry sizes: with a cost limit of
    five sizes (108 elements and datasets in the city), ten are refused and two are served."""
    limits = Limits(cost=5 * 108 + 50)
    ten = "{ " + " ".join(f"a{i}: conflicts(first: 1) {{ totalCount }}" for i in range(10)) + " }"
    two = "{ a: conflicts(first: 1) { totalCount } b: dataMap(first: 1) { totalCount } }"
    with AppServer(city["store"], max_body=BIG, limits=limits) as server:
        refused = post(server, city["tokens"]["reader"], ten)
        served = post(server, city["tokens"]["reader"], two)
    assert codes(refused) == {"COST_LIMIT"} and refused.json()["data"] is None, refused.text[:300]
    assert not codes(served) and served.json()["data"]["a"]["totalCount"] >= 0, served.text[:300]


def test_a_deep_nest_of_element_columns_dataset_is_refused_for_its_cost(city: dict[str, Any]) -> None:
    """``element.columns.dataset`` nested five times answered 4.5 MB in 6.8 s: each unpaginated
    list multiplies what is below it, so the nest is refused unresolved; one level is served."""
    with AppServer(city["store"], max_body=BIG) as server:
        response = post(server, city["tokens"]["reader"], NEST)
        shallow = post(
            server, city["tokens"]["reader"], '{ element(code: "uscc") { columns { dataset { code } } } }'
        )
    assert codes(response) == {"COST_LIMIT"} and response.json()["data"] is None, response.text[:200]
    assert not codes(shallow) and shallow.json()["data"]["element"]["columns"], shallow.text[:200]


def test_a_burst_of_full_introspections_is_costed_and_paced(city: dict[str, Any]) -> None:
    """100 full introspections took 8 s: each is now costed (about 34,000 units here), so with the
    default limits a reader's burst stops at its cost budget with RATE_LIMIT (HTTP 429), and
    another token is still served."""
    introspection = get_introspection_query(descriptions=True)
    # the refusals are not held back here (tarpit 0): once the budget is spent, five RATE_LIMITs
    # cool the token down (the tests below) and the rest of the burst would wait a second each
    with AppServer(city["store"], max_body=BIG, limits=Limits(tarpit=0)) as server:
        start = time.monotonic()
        responses = [post(server, city["tokens"]["reader"], introspection) for _ in range(100)]
        elapsed = time.monotonic() - start
        other = post(server, city["tokens"]["other"], introspection)
    served = [r for r in responses if r.status_code == 200 and not codes(r)]
    paced = [r for r in responses if r.status_code == 429 and codes(r) == {"RATE_LIMIT"}]
    assert paced and paced[0].headers.get("retry-after"), f"{len(served)} of 100 served"
    assert len(served) + len(paced) == 100  # paced: over the budget, then cooled down
    assert other.status_code == 200 and other.json()["data"]["__schema"]["types"]
    from graphql import parse
    from graphql.utilities import get_operation_ast

    from registry.api.limits import Limits as Defaults
    from registry.api.schema import schema
    from registry.api.validation import measure

    document = parse(introspection)
    cost = measure(schema.graphql_schema, document, get_operation_ast(document), {}, lambda: 0).cost
    assert cost > 10_000  # introspection is costed, not skipped
    budget = Defaults().budget
    # the budget, plus what refilled while the burst ran (a minute's budget over 60 s)
    assert len(served) <= budget * (1 + elapsed / 60) / cost + 1, (len(served), cost, elapsed)


def test_a_request_past_its_time_budget_stops_with_time_limit(city: dict[str, Any]) -> None:
    """The limits raised so 200 ``impact`` reports pass the cost check: the 0.05 s time budget
    stops them, with one TIME_LIMIT error and no data."""
    limits = Limits(time=0.05, tokens=10**6, aliases=10_000, selections=100_000, cost=10**9, budget=10**12)
    many = (
        "{ " + " ".join(f'a{i}: impact(elementCode: "uscc") {{ element columns }}' for i in range(200)) + " }"
    )
    with AppServer(city["store"], max_body=BIG, limits=limits) as server:
        response = post(server, city["tokens"]["reader"], many)
        normal = post(server, city["tokens"]["reader"], '{ element(code: "uscc") { code } }')
    body = response.json()
    assert codes(response) == {"TIME_LIMIT"} and body["data"] is None, response.text[:300]
    assert len(body["errors"]) == 1
    assert normal.json()["data"]["element"]["code"] == "uscc" or codes(normal) == {"TIME_LIMIT"}


def test_heavy_requests_of_one_token_beyond_the_limit_are_refused_while_another_token_is_served(
    city: dict[str, Any],
) -> None:
    """One heavy request in flight per token: a second one from the same token gets HTTP 429
    TOO_MANY_REQUESTS while it runs; the same request from another token is served."""
    limits = Limits(
        heavy_per_token=1,
        heavy_cost=100,
        time=3,  # the slow request stops itself after 3 s (TIME_LIMIT)
        **PASSED,
    )
    slow = IMPACT  # with the limits raised, it runs until its 3 s time budget stops it
    heavy = '{ impact(elementCode: "uscc") { element } }'
    with AppServer(city["store"], max_body=4 * BIG, limits=limits) as server:
        for _attempt in range(3):
            first: dict[str, httpx.Response] = {}
            runner = threading.Thread(
                target=lambda got=first: got.setdefault("r", post(server, city["tokens"]["reader"], slow))
            )
            runner.start()
            time.sleep(0.5)  # let it be parsed and measured: it then holds the token's one heavy slot
            refused = None
            while runner.is_alive() and refused is None:
                again = post(server, city["tokens"]["reader"], heavy)
                if again.status_code == 429:
                    refused = again
                time.sleep(0.1)
            other = post(server, city["tokens"]["other"], heavy)
            still_running = runner.is_alive()
            runner.join(60)
            if codes(first["r"]) != {"TOO_MANY_REQUESTS"}:  # a probe held the slot as it arrived: again
                break
    assert refused is not None, ("the slow request ended first", first["r"].text[:300])
    assert codes(refused) == {"TOO_MANY_REQUESTS"} and refused.json()["data"] is None
    assert still_running, "could not send the other token's request while the first ran"
    assert other.status_code == 200 and other.json()["data"]["impact"]["element"] == "uscc"
    assert first["r"].status_code == 200 and codes(first["r"]) <= {"TIME_LIMIT"}


def _reader(store: Store, reason: str) -> tuple[int, str]:
    """A token of its own (id, token) for a test whose refusals cool it down."""
    made, plain = create_token(
        store, department="market_regulation", role="reader", actor="tester", reason=reason
    )
    return made.id, plain


def _token_lookups(sql: Statements) -> list[str]:
    return [s for s in sql.seen if s.startswith("SELECT") and "FROM api_tokens" in s]


def _cooldown_events(store: Store, token_id: int) -> list[dict[str, Any]]:
    """The audit events of the refusals at the door of a cooled-down token."""
    with store.read() as conn:
        events = [
            {**e, "after": json.loads(e["after"] or "{}")} for e in query_events(conn, action="access_denied")
        ]
    mine = f"token:{token_id}:"
    return [e for e in events if e["after"].get("field") == "cooldown" and e["actor"].startswith(mine)]


def test_a_caller_refused_again_and_again_is_cooled_down_and_refused_unread(city: dict[str, Any]) -> None:
    """Five refusals within a minute (the deep nest, refused for its cost) cool the token down:
    its next request, a cheap and valid one, gets HTTP 429 ``RATE_LIMIT`` with ``Retry-After``
    before the store is read (its token is not even looked up), and is audited; another token is
    served meanwhile. (On the old code the cheap request was served.)"""
    store = city["store"]
    token_id, token = _reader(store, "cooled")
    with AppServer(store, max_body=BIG, limits=Limits(cooldown=30, tarpit=0)) as server:
        for _ in range(5):
            assert codes(post(server, token, NEST)) == {"COST_LIMIT"}
        with Statements(store) as sql:
            cooled = post(server, token, "{ me { role } }")
        other = post(server, city["tokens"]["other"], "{ me { role } }")
    assert cooled.status_code == 429 and codes(cooled) == {"RATE_LIMIT"}, cooled.text[:300]
    error = cooled.json()["errors"][0]
    assert error["extensions"]["cooldown"] is True and 20 < error["extensions"]["retryAfter"] <= 30
    assert int(cooled.headers["retry-after"]) >= 20
    assert "5 requests of this caller were refused" in error["message"]
    assert not _token_lookups(sql), sql.seen  # refused at the door
    assert not sql.resolver_work
    assert other.status_code == 200 and other.json()["data"]["me"]["role"] == "reader"
    events = _cooldown_events(store, token_id)
    assert [e["after"]["count"] for e in events] == [1], events


def test_a_cooled_down_caller_is_answered_slowly_and_served_again_when_the_cool_down_ends(
    city: dict[str, Any],
) -> None:
    """A cooled-down request's 429 is held back (``tarpit``: a client sending back to back is
    slowed, not answered at once); once the cool-down ends the caller is served; a refusal soon
    after starts a cool-down twice as long."""
    store = city["store"]
    _, token = _reader(store, "tarpit")
    with AppServer(store, max_body=BIG, limits=Limits(cooldown=3, tarpit=0.4)) as server:
        for _ in range(5):
            assert codes(post(server, token, NEST)) == {"COST_LIMIT"}
        start = time.monotonic()
        cooled = post(server, token, "{ me { role } }")
        held = time.monotonic() - start
        assert cooled.status_code == 429 and cooled.json()["errors"][0]["extensions"]["cooldown"]
        assert held >= 0.35, held  # held back (a lower bound: a slow machine only adds to it)
        for _ in range(60):  # bounded: the cool-down is 3 s; each try waits what the answer says
            served = post(server, token, "{ me { role } }")
            if served.status_code == 200:
                break
            time.sleep(min(1.0, float(served.json()["errors"][0]["extensions"]["retryAfter"])))
        assert served.status_code == 200 and served.json()["data"]["me"]["role"] == "reader"
        assert codes(post(server, token, NEST)) == {"COST_LIMIT"}  # one more refusal, in the window
        again = post(server, token, "{ me { role } }")
    assert again.status_code == 429, again.text[:300]
    assert again.json()["errors"][0]["extensions"]["retryAfter"] > 3.0  # the second is 6 s


def test_three_clients_sending_abuse_back_to_back_reach_the_store_only_until_cooled_down(
    city: dict[str, Any],
) -> None:
    """The bench's abuse (bench/graphql.py) without the clock: three threads send the 1,000-alias
    report, the 1,000 ``impact`` aliases and the deep nest back to back from one token, with the
    refusals not held back (the worst case for the server). Hundreds of requests are answered,
    but only the first few reach the store: once five are refused, the rest are refused at the
    door. Their audit is a few events whose counts sum to the refusals at the door; another
    token is served."""
    store = city["store"]
    token_id, token = _reader(store, "abuse")
    abusive = [REPORT, IMPACT, NEST]
    answered: list[int] = []
    lock = threading.Lock()
    with AppServer(store, max_body=BIG, limits=Limits(cooldown=120, tarpit=0)) as server:
        stop = threading.Event()

        def abuser(k: int) -> None:
            with httpx.Client(timeout=60) as client:
                for i in range(400):  # bounded, whatever the machine's speed
                    if stop.is_set():
                        break
                    response = client.post(
                        server.url + "/graphql",
                        json={"query": abusive[(k + i) % 3]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    with lock:
                        answered.append(response.status_code)

        with Statements(store) as sql:
            threads = [threading.Thread(target=abuser, args=(k,)) for k in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
        other = post(server, city["tokens"]["other"], '{ element(code: "uscc") { code } }')
    at_door = answered.count(429)
    assert len(answered) == 1200 and at_door >= 1200 - 8, (len(answered), at_door)
    # five refusals, and at most the two other clients' requests already past the door
    assert len(_token_lookups(sql)) <= 5 + 2, len(_token_lookups(sql))
    assert not sql.resolver_work
    assert other.status_code == 200 and other.json()["data"]["element"]["code"] == "uscc"
    events = _cooldown_events(store, token_id)  # the first at once, then the window's count
    assert 1 <= len(events) <= 2 and sum(e["after"]["count"] for e in events) == at_door, events


def test_more_requests_in_flight_than_a_token_may_have_are_refused_at_the_door(city: dict[str, Any]) -> None:
    """``per_token`` bounds every request of a token in flight, cheap or heavy: with one allowed
    and a slow request running, the same token's cheap request gets HTTP 429
    ``TOO_MANY_REQUESTS`` (checked before its body is read); another token's is served."""
    limits = Limits(
        per_token=1,
        time=3,  # the slow request stops itself after 3 s (TIME_LIMIT)
        **PASSED,
        heavy_cost=10**12,  # nothing is heavy: the limit seen is the one on all requests
        strikes=0,
    )
    slow = IMPACT  # with the limits raised, it runs until its 3 s time budget stops it
    token = city["tokens"]["reader"]
    with AppServer(city["store"], max_body=4 * BIG, limits=limits) as server:
        for _attempt in range(3):
            first: dict[str, httpx.Response] = {}
            runner = threading.Thread(target=lambda got=first: got.setdefault("r", post(server, token, slow)))
            runner.start()
            refused = None
            while runner.is_alive() and refused is None:
                time.sleep(0.2)
                again = post(server, token, "{ me { role } }")
                if again.status_code == 429:
                    refused = again
            other = post(server, city["tokens"]["other"], "{ me { role } }")
            still_running = runner.is_alive()
            runner.join(60)
            if refused is not None and still_running:
                break
    assert refused is not None, ("the slow request ended first", first["r"].text[:300])
    assert codes(refused) == {"TOO_MANY_REQUESTS"} and "in flight" in refused.json()["errors"][0]["message"]
    assert other.status_code == 200 and other.json()["data"]["me"]["role"] == "reader"


CATALOG_QUERIES = [
    '{ element(code: "uscc") { name owner { code } columns { dataset { code } role } } }',
    '{ department(code: "tax") { owns(first: 3) { totalCount edges { node { code } } '
    "pageInfo { hasNextPage endCursor } } consumes { totalCount } } }",
    '{ search(text: "信用代码") { edges { node { code } } } }',
    "{ dataMap(first: 200) { totalCount edges { node { providerCode consumerCode kind elements } } } }",
    "{ views(first: 1) { edges { node { code } } } }",
    "{ conflicts(first: 20) { totalCount edges { node { code message } } } }",
    '{ impact(elementCode: "uscc") { element columns views } }',
    "query($n: Int) { elements(first: $n) { edges { node { code owner { name } columns "
    "{ name dataset { code provider { code } } } } } } }",
]


def test_control_normal_queries_are_served_and_cost_well_under_the_limit(city: dict[str, Any]) -> None:
    """Control (passes on the old code too, apart from the cost figure it reads): the catalog
    queries of tests/registry/api/test_api.py, a full introspection and an 80-element page are served."""
    from graphql import parse
    from graphql.utilities import get_operation_ast

    from registry.api.limits import MAX_COST
    from registry.api.schema import schema
    from registry.api.validation import measure

    queries = [*CATALOG_QUERIES, get_introspection_query(descriptions=True)]
    with AppServer(city["store"], max_body=BIG) as server:
        for query in queries:
            response = httpx.post(
                server.url + "/graphql",
                json={"query": query, "variables": {"n": 80}},
                headers={"Authorization": f"Bearer {city['tokens']['admin']}"},
                timeout=60,
            )
            assert response.status_code == 200 and not codes(response), (query, response.text[:300])
            document = parse(query)
            found = measure(
                schema.graphql_schema, document, get_operation_ast(document), {"n": 80}, lambda: 108
            )
            assert found.cost < MAX_COST / 5, (query, found)
