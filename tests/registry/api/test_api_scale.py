"""No N+1: the SQL a nested query runs does not grow with 1,000 elements in the result."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.httpx import HTTPXTransport
from sqlalchemy import event

from registry.load import load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.tokens import create_token
from tests.support.api import Server
from tests.support.paths import ROOT

BENCH = ROOT / "bench" / "declarations.py"


class SelectCounter:
    """Counts the SELECT statements the store's readers run: writes (a token's last-use touch, the
    audit events of denials with their checkpoints) are not the request's reading work."""

    def __init__(self, store: Store):
        self.store = store
        self.count = 0

    def __call__(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.get_execution_options().get("govreg_write"):
            return
        if statement.lstrip().upper().startswith("SELECT"):
            self.count += 1

    def __enter__(self) -> SelectCounter:
        event.listen(self.store.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self)


def session_for(server: Server, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(transport=HTTPXTransport(url=server.url + "/graphql", headers=headers, timeout=60))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_declarations_for_api", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp("big")
    module.write_home(root / "home", 12, 1200, 120)
    registry, _ = load_valid_home(root / "home")
    store = Store(f"sqlite:///{root / 'store.db'}")
    apply_registry(store, registry, actor="tester", reason="scale", source="bench home")
    _, token = create_token(store, department="dept_001", role="reader", actor="tester", reason="scale")
    with Server(store) as server:
        yield store, server, token
    store.dispose()


def statements_per_size(big: Any, query: Any, sizes: tuple[int, ...], check: Any) -> dict[int, int]:
    """SELECTs run for the same query at each page size (the first size also warms the caches)."""
    store, server, token = big
    counts: dict[int, int] = {}
    with SelectCounter(store) as counter, session_for(server, token) as session:
        for n in sizes:
            counter.count = 0
            check(n, session.execute(query, variable_values={"n": n}))
            counts[n] = counter.count
    return counts


def test_a_nested_query_over_1000_elements_runs_as_many_statements_as_over_10(big) -> None:  # type: ignore[no-untyped-def]
    query = gql(
        "query($n: Int) { elements(first: $n) { totalCount edges { node { code name sharing "
        "owner { code name } columns { name isKey dataset { code name provider { code } } } } } } }"
    )

    def check(n: int, result: Any) -> None:
        edges = result["elements"]["edges"]
        assert len(edges) == n and all(e["node"]["owner"]["code"].startswith("dept_") for e in edges)

    counts = statements_per_size(big, query, (10, 10, 1000), check)
    assert counts[1000] == counts[10] and counts[1000] < 25, counts


def test_departments_with_their_owned_elements_do_not_query_per_department(big) -> None:  # type: ignore[no-untyped-def]
    """A page of departments, each with a page of its elements, datasets, views and services."""
    query = gql(
        "query($n: Int) { departments(first: $n) { edges { node { code "
        "owns(first: 5) { totalCount edges { node { code owner { code } } } } "
        "provides(first: 3) { totalCount edges { node { code } } } "
        "views(first: 2) { totalCount } services(first: 2) { totalCount } } } } }"
    )

    def check(n: int, result: Any) -> None:
        nodes = [e["node"] for e in result["departments"]["edges"]]
        assert len(nodes) == n
        for node in nodes:
            assert node["owns"]["totalCount"] == 100 and len(node["owns"]["edges"]) == 5
            assert all(e["node"]["owner"]["code"] == node["code"] for e in node["owns"]["edges"])

    counts = statements_per_size(big, query, (2, 2, 12), check)
    assert counts[12] == counts[2], counts


def test_quality_results_of_many_datasets_come_in_one_batch(big) -> None:  # type: ignore[no-untyped-def]
    from registry.store.quality import record_results

    store = big[0]
    for code, bad in (("ds_0000", 3), ("ds_0001", 0)):
        outcome = {
            "dataset": code,
            "suite": "standards",
            "key": f"required:el_{code[-1]}",
            "type": "x",
            "severity": "critical",
            "status": "failed" if bad else "passed",
            "element_count": 10,
            "unexpected_count": bad,
            "unexpected_percent": bad * 10.0,
            "samples": [],
        }
        record_results(store, "dept_000", [outcome])  # an older validation, then the latest
        record_results(store, "dept_000", [{**outcome, "unexpected_count": bad + 1}])
    query = gql(
        "query($n: Int) { datasets(first: $n) { edges { node { code qualityResults { key status "
        "unexpectedCount } } } } }"
    )

    def check(n: int, result: Any) -> None:
        by_code = {e["node"]["code"]: e["node"]["qualityResults"] for e in result["datasets"]["edges"]}
        assert [r["unexpectedCount"] for r in by_code["ds_0000"]] == [4]  # the latest validation only
        assert by_code["ds_0001"][0]["status"] == "passed" and by_code["ds_0002"] == []

    counts = statements_per_size(big, query, (3, 3, 60), check)
    assert counts[60] == counts[3], counts


def test_the_visibility_of_quality_samples_costs_no_query_per_result(big) -> None:  # type: ignore[no-untyped-def]
    """Each result's samples are checked against the elements of its columns (a compound key's
    most restricted one): those elements come in one batch for the whole page."""
    import httpx
    from sqlalchemy import select

    from registry.store.quality import record_results
    from registry.store.schema import dataset_columns

    store, server, token = big
    with store.read() as conn:
        rows = conn.execute(select(dataset_columns.c.dataset, dataset_columns.c.element)).all()
    by_dataset: dict[str, list[str]] = {}
    for dataset, element in rows:
        by_dataset.setdefault(dataset, []).append(element)
    outcomes = [
        {
            "dataset": dataset,
            "suite": "keys",
            "key": "unique:" + "+".join(els[:2]),
            "type": "expect_compound_columns_to_be_unique",
            "columns": els[:2],
            "severity": "critical",
            "status": "failed",
            "samples": ["v1", "v2"],
        }
        for dataset, els in sorted(by_dataset.items())
    ]
    record_results(store, "dept_000", outcomes)
    query = (
        "query($n: Int) { datasets(first: $n) { edges { node { code qualityResults { key samples } } } } }"
    )
    counts: dict[int, int] = {}
    with SelectCounter(store) as counter:
        for n in (3, 3, 60):
            counter.count = 0
            response = httpx.post(
                server.url + "/graphql",
                json={"query": query, "variables": {"n": n}},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            assert len(response.json()["data"]["datasets"]["edges"]) == n
            counts[n] = counter.count
    assert counts[60] == counts[3], counts
