"""Errors that say nothing they should not: every error the API gives carries ``extensions.code``;
none shows SQL, its parameters or a stack trace; long inputs are refused by size; writers that
find the store locked wait a bounded time and get ``BUSY`` (HTTP 503, ``Retry-After``), never a
raw driver error; a deeply nested body is HTTP 400; the 64 KB header limit holds whichever HTTP
parser serves.

Real parts: the real ``govreg serve`` in a subprocess on a free loopback port (uvicorn, with its
default parser, ``--http h11`` and ``--http httptools``), a real HTTP client (httpx), real SQLite
store files and real PostgreSQL databases (when ``GOVREG_TEST_PG`` names a server; ``make test``
sets it), the real ``govreg apply`` in a subprocess, and a second real connection holding the
store's write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock) as another writer would.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.load import load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.tokens import create_token
from tests.support.api import Serve
from tests.support.backends import BACKENDS, urls
from tests.support.cli import GOVREG
from tests.support.paths import CITY

WRITE_LOCK = int.from_bytes(b"govreg:w", "big")  # the advisory lock govreg's writers take on PostgreSQL
LEAKS = ("SELECT ", "[SQL", "parameters", "sqlite3", "psycopg", "Traceback", "OperationalError", "elements.")
TODAY = date.today()
STEWARDS = ("market_regulation", "hrss", "civil_affairs", "court", "real_estate", "health")
REQUEST = """
mutation($consumer: String!, $from: Date!, $to: Date) {
  requestAccess(consumer: $consumer, elements: ["bank_account_number"], purpose: "核验企业退税账户",
                legalBasis: "《税收征收管理法》", validFrom: $from, validTo: $to, reason: "并发写入") {
    ok errors { code message } agreement { code }
  }
}"""


def _city_store(url: str) -> Store:
    store = Store(url)
    registry, _ = load_valid_home(CITY)
    apply_registry(store, registry, actor="tester", reason="city", source=str(CITY))
    return store


def _tokens(store: Store) -> dict[str, str]:
    made = {"reader": create_token(store, department="tax", role="reader", actor="t", reason="t")[1]}
    for dept in STEWARDS:
        made[dept] = create_token(store, department=dept, role="steward", actor="t", reason="t")[1]
    return made


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def city(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("errors")
    databases = urls(backend, folder)
    url = next(databases)()
    store = _city_store(url)
    tokens = _tokens(store)
    with Serve(url, folder) as server:
        yield {"url": url, "store": store, "tokens": tokens, "server": server}
    store.dispose()
    next(databases, None)


def _assert_coded(response: httpx.Response, what: str) -> list[dict[str, Any]]:
    """Every error of ``response`` has a code, and the body says nothing of SQL or stacks."""
    for leak in LEAKS:
        assert leak not in response.text, f"{what}: the answer shows {leak!r}: {response.text[:500]}"
    try:
        body = response.json()
    except json.JSONDecodeError:
        pytest.fail(f"{what}: HTTP {response.status_code}, not a GraphQL answer: {response.text[:300]}")
    errors = body.get("errors") or []
    assert errors, f"{what}: no error reported: {body}"
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and code, f"{what}: an error without extensions.code: {error}"
    return list(errors)


def test_a_long_search_is_refused_by_size_and_shows_no_sql(city: dict[str, Any]) -> None:
    # a token of its own: its five refusals cool it down (test_api_abuse.py), not the shared reader
    server = city["server"]
    reader = create_token(city["store"], department="tax", role="reader", actor="t", reason="sizes")[1]
    query = "query($t: String!) { search(text: $t) { totalCount } }"
    fine = server.post(reader, {"query": query, "variables": {"t": "信用" * 100}})
    assert fine.status_code == 200 and "errors" not in fine.json(), fine.text  # 200 characters pass
    for text_ in ("x" * 50_000, "税" * 50_000, "%_" * 25_000):
        response = server.post(reader, {"query": query, "variables": {"t": text_}})
        errors = _assert_coded(response, "a 50,000-character search")
        assert [e["extensions"]["code"] for e in errors] == ["INPUT_TOO_LONG"], errors
        assert text_[:100] not in response.text  # the refusal names the limit, not the value
    literal = server.post(reader, {"query": '{ search(text: "%s") { totalCount } }' % ("y" * 5_000)})
    assert [e["extensions"]["code"] for e in _assert_coded(literal, "a literal")] == ["INPUT_TOO_LONG"]
    # a query text over the server's text limit is refused before it is even parsed
    whole = server.post(reader, {"query": '{ search(text: "%s") { totalCount } }' % ("y" * 50_000)})
    assert [e["extensions"]["code"] for e in _assert_coded(whole, "a long text")] == ["PAYLOAD_TOO_LARGE"]
    assert "y" * 100 not in whole.text
    # the granted elements that were once in the SQL's parameters are nowhere in the answer
    assert "bank_account_number" not in response.text and "bank_account_number" not in whole.text


BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("syntax", {"json": {"query": "{ me { department "}}),
    ("unknown field", {"json": {"query": "{ nope }"}}),
    ("missing variable", {"json": {"query": "query($t: String!) { search(text: $t) { totalCount } }"}}),
    (
        "variable of the wrong type",
        {"json": {"query": "query($t: String!) { search(text: $t) { totalCount } }", "variables": {"t": 5}}},
    ),
    ("unknown operation", {"json": {"query": "query A { me { role } }", "operationName": "B"}}),
    ("two operations, no name", {"json": {"query": "query A { me { role } } query B { me { role } }"}}),
    (
        "a date that is no date",
        {"json": {"query": REQUEST, "variables": {"consumer": "tax", "from": "next tuesday"}}},
    ),
    ("an enum that is not one", {"json": {"query": '{ lineage(node: "x", direction: SIDEWAYS) { root } }'}}),
    ("not JSON", {"content": b"{query", "headers": {"Content-Type": "application/json"}}),
    ("a JSON list", {"json": [{"query": "{ me { role } }"}]}),
    ("variables not an object", {"json": {"query": "{ me { role } }", "variables": [1]}}),
    ("a bad cursor", {"json": {"query": '{ elements(first: 2, after: "zzz") { totalCount } }'}}),
    ("a page too large", {"json": {"query": "{ elements(first: 100000) { totalCount } }"}}),
    ("unknown element", {"json": {"query": '{ impact(elementCode: "nope") { element { code } } }'}}),
    (
        "a reader's mutation",
        {"json": {"query": 'mutation { retireElement(elementCode: "uscc", reason: "x") { ok } }'}},
    ),
    (
        "a query nested past the parser's stack",
        {"json": {"query": '{ element(code: "x") ' + "{ columns " * 3000}},
    ),
    ("a long argument", {"json": {"query": '{ element(code: "%s") { code } }' % ("z" * 20_000)}}),
]


def test_every_error_in_a_sample_of_bad_requests_is_coded(city: dict[str, Any]) -> None:
    failed = []
    for what, request_kw in BAD_REQUESTS:
        response = city["server"].post(city["tokens"]["reader"], **request_kw)
        try:
            assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:300]}"
            _assert_coded(response, what)
        except AssertionError as exc:
            failed.append(f"{what}: {str(exc)[:300]}")
        except pytest.fail.Exception as exc:
            failed.append(f"{what}: {str(exc)[:300]}")
    assert not failed, "\n".join(failed)


def test_no_token_and_a_bad_token_are_coded(city: dict[str, Any]) -> None:
    """Control: these were coded before (401 UNAUTHENTICATED)."""
    for token in (None, "grt_nope"):
        response = city["server"].post(token, {"query": "{ me { role } }"})
        assert response.status_code == 401
        assert [e["extensions"]["code"] for e in _assert_coded(response, "no token")] == ["UNAUTHENTICATED"]


def test_a_deeply_nested_body_is_400_not_500(city: dict[str, Any]) -> None:
    server, reader = city["server"], city["tokens"]["reader"]
    headers = {"Content-Type": "application/json"}
    brackets = server.post(reader, content=b"[" * 200_000, headers=headers)  # 200 KB, under the body limit
    assert brackets.status_code == 400, brackets.text[:300]
    assert [e["extensions"]["code"] for e in _assert_coded(brackets, "nested [")] == ["INVALID"]
    variables = '{"query": "{ me { role } }", "variables": {"v": ' + "[" * 5_000 + "]" * 5_000 + "}}"
    deep = server.post(reader, content=variables.encode(), headers=headers)
    assert deep.status_code == 400, deep.text[:300]
    _assert_coded(deep, "nested variables")
    get = httpx.get(
        server.url + "/graphql",
        params={"query": "{ me { role } }", "variables": "[" * 3_000},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert get.status_code == 400, get.text[:300]
    _assert_coded(get, "nested GET variables")
    assert server.post(reader, {"query": "{ me { role } }"}).json() == {"data": {"me": {"role": "reader"}}}


def test_an_unexpected_failure_is_internal_with_a_request_id_and_logged_only_on_the_server(
    backend: str, tmp_path: Path
) -> None:
    """The store is damaged under the running server (a table renamed): the driver's error, with
    its SQL and parameters, goes to the server's log under a request id; the client gets the id."""
    databases = urls(backend, tmp_path)
    url = next(databases)()
    store = _city_store(url)
    reader = _tokens(store)["reader"]
    with Serve(url, tmp_path) as server:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE elements RENAME TO elements_gone"))
        response = server.post(reader, {"query": '{ element(code: "uscc") { code name } me { role } }'})
        errors = _assert_coded(response, "a damaged store")
        assert "elements_gone" not in response.text and "no such table" not in response.text
        assert "does not exist" not in response.text
        [error] = errors
        assert error["extensions"]["code"] == "INTERNAL", error
        rid = error["extensions"]["requestId"]
        assert rid and rid in error["message"]
        assert response.json()["data"]["me"] == {"role": "reader"}  # the rest of the answer stands
    log = server.log.read_text()
    assert rid in log and "elements" in log  # the details are on the server, under the id
    store.dispose()
    next(databases, None)


def _hold_write_lock(url: str) -> tuple[Any, Any]:
    """Take the store's write lock as another writer would; returns what releases it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        con = sqlite3.connect(str(parsed.database), isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        return con, con.rollback
    engine = create_engine(url)
    conn = engine.connect()
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})

    def release() -> None:
        conn.rollback()
        conn.close()
        engine.dispose()

    return conn, release


def _requests(server: Serve, tokens: dict[str, str], rounds: int) -> list[httpx.Response]:
    term = {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=90)).isoformat()}
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def writer(dept: str) -> None:
        for _ in range(rounds):
            try:
                got = server.post(
                    tokens[dept], {"query": REQUEST, "variables": {"consumer": dept, **term}}, timeout=90
                )
            except httpx.TimeoutException:  # a writer that waits without bound is what is attacked
                got = httpx.Response(599, text=f"{dept}: no answer in 90 s")
            with lock:
                answers.append(got)

    threads = [threading.Thread(target=writer, args=(dept,)) for dept in STEWARDS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _busy(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    assert response.headers.get("Retry-After", "").isdigit(), response.headers
    assert [e["extensions"]["code"] for e in _assert_coded(response, "a busy store")] == ["BUSY"]
    return True


def test_six_concurrent_writers_succeed_or_get_busy_never_a_raw_lock_error(
    backend: str, tmp_path: Path
) -> None:
    databases = urls(backend, tmp_path)
    url = next(databases)()
    store = _city_store(url)
    tokens = _tokens(store)
    before = len(store.dump()["agreements"])
    wait = {"GOVREG_WRITE_WAIT": "2"}
    with Serve(url, tmp_path, env=wait) as server:
        # 1. another writer holds the lock: six writers wait their bounded time, then BUSY
        _, release = _hold_write_lock(url)
        try:
            answers = _requests(server, tokens, 1)
            apply = subprocess.run(
                [*GOVREG, "apply", "--home", str(CITY), "--store", url],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, **wait, "GOVREG_ACTOR": "t"},
                check=False,
            )
        finally:
            release()
        for answer in answers:
            assert "locked" not in answer.text, answer.text[:300]
            assert _busy(answer), f"HTTP {answer.status_code}: {answer.text[:300]}"
        assert apply.returncode == 1, apply.stderr[-1000:]
        assert "busy" in apply.stderr and "nothing was changed" in apply.stderr, apply.stderr[-1000:]
        assert "locked" not in apply.stderr + apply.stdout and "Traceback" not in apply.stderr
        assert len(store.dump()["agreements"]) == before  # nothing was written by any of them

        # 2. six writers at once, twice each: each either writes or is BUSY, with nothing written
        answers = _requests(server, tokens, 2)
        done = 0
        for answer in answers:
            assert "locked" not in answer.text, answer.text[:300]
            if not _busy(answer):
                assert answer.status_code == 200, answer.text[:300]
                payload = answer.json()["data"]["requestAccess"]
                assert payload["ok"], payload
                done += 1
        assert done >= 1
        assert len(store.dump()["agreements"]) == before + done
    store.dispose()
    next(databases, None)


@pytest.mark.parametrize("http", ["default", "h11", "httptools"])
def test_a_70kb_header_is_refused_whichever_parser_serves(http: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = _city_store(url)
    reader = _tokens(store)["reader"]
    store.dispose()
    args = () if http == "default" else ("--http", http)
    with Serve(url, tmp_path, *args) as server:
        ok = server.post(reader, {"query": "{ me { role } }"}, headers={"X-Note": "a" * 60_000})
        assert ok.status_code == 200, ok.text[:200]  # under the limit
        big = server.post(reader, {"query": "{ me { role } }"}, headers={"X-Note": "a" * 70_000})
        assert big.status_code in (400, 431), f"{http}: HTTP {big.status_code} for a 70 KB header"
        many = {f"X-Note-{i}": "b" * 1_000 for i in range(70)}
        spread = server.post(reader, {"query": "{ me { role } }"}, headers=many)
        assert spread.status_code in (400, 431), f"{http}: HTTP {spread.status_code} for 70 headers of 1 KB"
        try:
            huge = server.post(reader, {"query": "{ me { role } }"}, headers={"X-Note": "c" * 1_000_000})
            assert huge.status_code in (400, 431), f"{http}: HTTP {huge.status_code} for a 1 MB header"
        except httpx.TransportError:
            pass  # the server closed the connection on it: refused too
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
