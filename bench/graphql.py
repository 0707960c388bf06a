"""Benchmark: the GraphQL catalog over HTTP against the SQL that fetches the same data directly.

Builds a registry of 100 departments, 20,000 elements and 2,000 datasets (plus views over them,
so lineage has something to walk), applies it to a SQLite store, starts ``govreg``'s ASGI app
under uvicorn on a loopback port, and in the same run measures p50 and p95 latency of five
representative queries through HTTP and of direct SQL answering the same question through
SQLAlchemy on the same store. Prints the ratios; target: p95 of ``element(code)`` with owner,
datasets and lineage depth 2 under 5× the direct SQL. Then a bounded concurrent load on loopback
(a fixed number of requests from a few client threads) gives a throughput figure. Then the abuse
section: how long the worst request found (1,000 aliases of ``conflicts``) takes to be refused
(target within 1 s), and the median latency of normal queries quiet and while three processes keep
sending abusive requests (1,000-alias reports, 1,000 ``impact`` aliases, the deep
``element.columns.dataset`` nest, introspection) from a reader's token (target within 1.5×).

    python bench/graphql.py [--elements 20000] [--iterations 300] [--load 800] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

# This file's name would shadow the graphql-core package: replace the script's folder on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from graphql import get_introspection_query  # noqa: E402

from registry.api.app import create_app  # noqa: E402
from registry.api.schema import Limits  # noqa: E402
from registry.load import load_valid_home  # noqa: E402
from registry.store import Store  # noqa: E402
from registry.store.apply import apply_registry  # noqa: E402
from registry.store.schema import (  # noqa: E402
    dataset_columns,
    datasets,
    departments,
    elements,
    lineage_edges,
)
from registry.store.tokens import create_token  # noqa: E402

ELEMENT_QUERY = """
query($code: String!, $node: String!) {
  element(code: $code) {
    code name nameEn security sharing
    owner { code name nameEn }
    columns { name dataset { code name provider { code } } }
  }
  lineage(node: $node, direction: DOWNSTREAM, depth: 2) {
    nodes(first: 50) { totalCount edges { node { node depth via } } }
  }
}"""
SEARCH_QUERY = """query($text: String!) { search(text: $text, first: 20) {
  totalCount edges { node { code name owner { code } } } } }"""
DATASET_QUERY = """query($code: String!) { dataset(code: $code) { code name provider { code name }
  columns { name isKey element { code name security personal } } } }"""
DEPARTMENT_QUERY = """query($code: String!) { department(code: $code) { code name
  owns(first: 50) { totalCount edges { node { code name security } } } } }"""
DATAMAP_QUERY = """{ dataMap(first: 50) {
  totalCount edges { node { providerCode consumerCode kind elements sharingTypes } } } }"""


def write_home(root: Path, departments_: int, elements_: int, datasets_: int) -> None:
    """The declarations benchmark's home, plus one view per ten datasets."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_declarations", Path(__file__).parent / "declarations.py"
    )
    assert spec and spec.loader
    declarations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(declarations)
    declarations.write_home(root, departments_, elements_, datasets_)
    views = root / "views"
    views.mkdir()
    lines = ["views:"]
    per = elements_ // departments_
    per_ds = datasets_ // departments_
    for n in range(0, datasets_, 10):
        dept = n // per_ds
        # the element of the dataset's first column (declarations.write_home: ten per dataset, in turn)
        first = f"el_{dept * per + (n * 10) % per:05d}"
        lines += [
            f"  - code: view_{n:04d}",
            f"    name: 汇总视图{n}",
            f"    name_en: Summary view {n}",
            f"    owner: dept_{dept:03d}",
            f"    query: select c.{first}, count(*) as n from ds_{n:04d} c group by c.{first}",
        ]
    (views / "views.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: Any) -> tuple[int, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return port, server, thread


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_pair(
    first: Callable[[], object], second: Callable[[], object], iterations: int
) -> tuple[list[float], list[float]]:
    """Both timed in turn, one call of each per round: a noisy spell of the machine falls on both
    sides of the ratio, not on whichever happened to be measured then."""
    first(), second()  # warm up
    a, b = [], []
    for _ in range(iterations):
        for fn, out in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return a, b


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--elements", type=int, default=20_000)
    parser.add_argument("--datasets", type=int, default=2_000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--load", type=int, default=800, help="requests in the concurrent load")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--abuse-client", nargs=4, metavar=("URL", "TOKEN", "K", "STOP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.abuse_client:
        url, abuser_token, k, stop = args.abuse_client
        abuse_client(url, abuser_token, int(k), stop)
        return {}
    rng = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        write_home(home, args.departments, args.elements, args.datasets)
        registry, _ = load_valid_home(home)
        store = Store(f"sqlite:///{tmp}/store.db")
        apply_registry(store, registry, actor="bench", reason="bench", source=str(home))
        _, token = create_token(
            store, department="dept_000", role="center-admin", actor="bench", reason="bench"
        )
        # The latency cases and the load send thousands of requests from one token in seconds: the
        # per-token cost budget (what paces a burst) is raised for them; the abuse section below
        # runs a second server, on the same store, with every default limit.
        port, server, thread = start_server(create_app(store, limits=Limits(budget=10**12)))
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

        element_codes = sorted(registry.elements)
        dataset_codes = sorted(registry.datasets)
        # an element that a view reads, so the lineage walk has edges
        view_element = f"el_{0:05d}"

        def gql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            response = client.post("/graphql", json={"query": query, "variables": variables or {}})
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"{response.status_code}: {json.dumps(body)[:300]}")
            return body["data"]  # type: ignore[no-any-return]

        def sql_element(code: str, node: tuple[str, str]) -> object:
            with store.read() as conn:
                row = conn.execute(select(elements).where(elements.c.code == code)).mappings().one()
                conn.execute(select(departments).where(departments.c.code == row["owner"])).mappings().one()
                conn.execute(
                    select(dataset_columns.c.name, datasets.c.code, datasets.c.name, datasets.c.provider)
                    .join(datasets, datasets.c.code == dataset_columns.c.dataset)
                    .where(dataset_columns.c.element == code)
                ).all()
                frontier = {node}
                for _ in range(2):
                    if not frontier:
                        break
                    tables = [t for t, _ in frontier]
                    rows = conn.execute(
                        select(lineage_edges).where(lineage_edges.c.source_table.in_(tables))
                    ).all()
                    frontier = {
                        (r.target_table, r.target_column)
                        for r in rows
                        if (r.source_table, r.source_column) in frontier
                    }
            return row

        carrying = next(ds for ds in registry.datasets.values() if ds.column_for(view_element))
        node = f"{carrying.code}.{view_element}"
        cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "element(code)+owner+datasets+lineage depth 2": (
                lambda: gql(ELEMENT_QUERY, {"code": view_element, "node": node}),
                lambda: sql_element(view_element, (carrying.code, view_element)),
            ),
            "search(text)": (
                lambda: gql(SEARCH_QUERY, {"text": "数据项1234"}),
                lambda: _sql_search(store, "数据项1234"),
            ),
            "dataset(code)+columns+elements": (
                lambda: gql(DATASET_QUERY, {"code": rng.choice(dataset_codes)}),
                lambda: _sql_dataset(store, rng.choice(dataset_codes)),
            ),
            "department(code)+owns(50)": (
                lambda: gql(DEPARTMENT_QUERY, {"code": f"dept_{rng.randrange(args.departments):03d}"}),
                lambda: _sql_department(store, f"dept_{rng.randrange(args.departments):03d}"),
            ),
            "dataMap(50)": (lambda: gql(DATAMAP_QUERY), lambda: _sql_datamap(store)),
        }
        figures: dict[str, Any] = {"elements": len(element_codes), "datasets": len(dataset_codes)}
        for name, (api, direct) in cases.items():
            api_times, sql_times = timed_pair(api, direct, args.iterations)
            figures[name] = {
                "api_p50_ms": round(1000 * statistics.median(api_times), 2),
                "api_p95_ms": round(1000 * percentile(api_times, 0.95), 2),
                "sql_p50_ms": round(1000 * statistics.median(sql_times), 2),
                "sql_p95_ms": round(1000 * percentile(sql_times, 0.95), 2),
            }
            figures[name]["p95_ratio"] = round(figures[name]["api_p95_ms"] / figures[name]["sql_p95_ms"], 2)

        def one(i: int) -> float:
            start = time.perf_counter()
            code = element_codes[i % len(element_codes)]
            gql(ELEMENT_QUERY, {"code": code, "node": f"{carrying.code}.{code}"})
            return time.perf_counter() - start

        start = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            latencies = list(pool.map(one, range(args.load)))
        elapsed = time.perf_counter() - start
        figures["load"] = {
            "requests": args.load,
            "threads": args.threads,
            "seconds": round(elapsed, 2),
            "requests_per_s": round(args.load / elapsed, 1),
            "p95_ms": round(1000 * percentile(latencies, 0.95), 2),
        }
        server.should_exit = True
        thread.join(10)
        port, server, thread = start_server(create_app(store))
        figures["abuse"] = abuse_section(port, store, element_codes, carrying.code, args.iterations)
        server.should_exit = True
        thread.join(10)
        client.close()
        store.dispose()

    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(
            f"{figures['elements']:,} elements, {figures['datasets']:,} datasets; "
            f"{args.iterations} iterations"
        )
        print(
            f"{'query':48s} {'API p50':>9s} {'API p95':>9s} {'SQL p50':>9s} {'SQL p95':>9s} {'p95 ratio':>9s}"
        )
        for name in cases:
            f = figures[name]
            print(
                f"{name:48s} {f['api_p50_ms']:8.2f}ms {f['api_p95_ms']:8.2f}ms {f['sql_p50_ms']:8.2f}ms "
                f"{f['sql_p95_ms']:8.2f}ms {f['p95_ratio']:9.2f}"
            )
        load = figures["load"]
        print(
            f"load: {load['requests']} requests from {load['threads']} threads in {load['seconds']} s = "
            f"{load['requests_per_s']} req/s (p95 {load['p95_ms']} ms)"
        )
        abuse = figures["abuse"]
        print(
            f"abuse: the 1,000-alias report refused in {abuse['worst_refused_ms']} ms (worst of "
            f"{abuse['worst_tries']}, {abuse['worst_code']}); normal median {abuse['quiet_median_ms']} ms "
            f"quiet, {abuse['abused_median_ms']} ms with three abusers = {abuse['median_ratio']}x "
            f"({abuse['abusive_sent']} abusive requests sent, codes {abuse['abusive_codes']})"
        )
        print("targets: element(code) p95 ratio under 5; refusal within 1 s; median ratio within 1.5")
    return figures


def abusive_report(tag: int) -> str:
    """The worst request found: 1,000 aliases of a whole-registry report (a new text each time)."""
    return "{ " + " ".join(f"a{tag}_{i}: conflicts(first: 1) {{ totalCount }}" for i in range(1000)) + " }"


ABUSIVE: list[Callable[[int], str]] = [
    abusive_report,
    lambda tag: (
        "{ "
        + " ".join(f'i{tag}_{i}: impact(elementCode: "el_00000") {{ element columns }}' for i in range(1000))
        + " }"
    ),
    lambda tag: (
        f'{{ element(code: "el_{tag % 1000:05d}") {{ columns {{ dataset {{ columns {{ element {{ '
        "columns { dataset { columns { element { columns { dataset { code } } } } } } } } } } } }"
    ),
    lambda tag: get_introspection_query(descriptions=True),
]


def abuse_client(url: str, token: str, k: int, stop_file: str) -> None:
    """One abuser: sends the abusive requests in turn, back to back, until ``stop_file`` exists."""
    sent, seen = 0, set()
    print("ready", flush=True)
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        while not Path(stop_file).exists():
            sent += 1
            response = c.post(url, json={"query": ABUSIVE[(k + sent) % len(ABUSIVE)](k * 1_000_000 + sent)})
            for e in response.json().get("errors") or []:
                seen.add(str(e.get("extensions", {}).get("code")))
    print(json.dumps({"sent": sent, "codes": sorted(seen)}))


def abuse_section(
    port: int, store: Store, element_codes: list[str], dataset: str, iterations: int
) -> dict[str, Any]:
    """The worst request found (1,000 aliases of a whole-registry report) and how long its refusal
    takes; then the median (and p95) latency of normal queries from one token, quiet and while
    three other processes keep sending abusive requests from another reader's token (one not
    refused before, so its first requests, before any cool-down, are in the figure), measured in
    the same run."""
    _, reader = create_token(store, department="dept_001", role="reader", actor="bench", reason="abuse")
    # the abusers get a token of their own, not yet refused: what they cost from their first request
    _, abuser = create_token(store, department="dept_001", role="reader", actor="bench", reason="abuse")
    _, normal_token = create_token(store, department="dept_002", role="reader", actor="bench", reason="abuse")
    base = f"http://127.0.0.1:{port}/graphql"

    def report(tag: int) -> str:  # a new text each time: no parse cache helps the server
        return (
            "{ " + " ".join(f"a{tag}_{i}: conflicts(first: 1) {{ totalCount }}" for i in range(1000)) + " }"
        )

    worst = []
    code = None
    with httpx.Client(headers={"Authorization": f"Bearer {reader}"}, timeout=120) as c:
        for tag in range(5):
            start = time.perf_counter()
            response = c.post(base, json={"query": abusive_report(10_000 + tag)})
            worst.append(time.perf_counter() - start)
            errors = response.json().get("errors") or [{}]
            code = errors[0].get("extensions", {}).get("code")
            assert response.json().get("data") is None, "the 1,000-alias report was answered"

    normal = httpx.Client(headers={"Authorization": f"Bearer {normal_token}"}, timeout=60)
    rng = random.Random(11)

    def normal_times(count: int) -> list[float]:
        times = []
        for _ in range(count):
            code_ = rng.choice(element_codes)
            start = time.perf_counter()
            response = normal.post(
                base,
                json={"query": ELEMENT_QUERY, "variables": {"code": code_, "node": f"{dataset}.{code_}"}},
            )
            times.append(time.perf_counter() - start)
            assert response.status_code == 200 and not response.json().get("errors"), response.text[:200]
        return times

    normal_times(iterations)  # warm up
    quiet = normal_times(3 * iterations)
    # three abusers in their own processes (their client work must not take this process's GIL)
    stop_file = Path(tempfile.mkdtemp()) / "stop"
    abusers = [
        subprocess.Popen(
            [sys.executable, __file__, "--abuse-client", base, abuser, str(k), str(stop_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    for proc in abusers:  # each says when it starts sending (after its imports)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.1)  # their first requests are on the way
    abused = normal_times(3 * iterations)  # from the abusers' first requests on, not after they are cooled
    stop_file.write_text("stop")
    sent, seen = 0, set()
    for proc in abusers:
        out, _ = proc.communicate(timeout=300)
        got = json.loads(out.strip().splitlines()[-1])
        sent += got["sent"]
        seen |= set(got["codes"])
    normal.close()
    return {
        "worst_refused_ms": round(1000 * max(worst), 1),
        "worst_median_ms": round(1000 * statistics.median(worst), 1),
        "worst_tries": len(worst),
        "worst_code": code,
        "quiet_median_ms": round(1000 * statistics.median(quiet), 2),
        "abused_median_ms": round(1000 * statistics.median(abused), 2),
        "median_ratio": round(statistics.median(abused) / statistics.median(quiet), 2),
        "quiet_p95_ms": round(1000 * percentile(quiet, 0.95), 2),
        "abused_p95_ms": round(1000 * percentile(abused, 0.95), 2),
        "abusive_sent": sent,
        "abusive_codes": sorted(seen),
    }


def _sql_search(store: Store, text: str) -> object:
    like = f"%{text}%"
    with store.read() as conn:
        return conn.execute(
            select(elements.c.code, elements.c.name, elements.c.owner)
            .where(elements.c.name.like(like) | elements.c.name_en.like(like) | elements.c.spec.like(like))
            .order_by(elements.c.code)
            .limit(20)
        ).all()


def _sql_dataset(store: Store, code: str) -> object:
    with store.read() as conn:
        conn.execute(select(datasets).where(datasets.c.code == code)).mappings().one()
        return conn.execute(
            select(
                dataset_columns.c.name,
                dataset_columns.c.is_key,
                elements.c.code,
                elements.c.name,
                elements.c.security,
                elements.c.personal,
            )
            .join(elements, elements.c.code == dataset_columns.c.element)
            .where(dataset_columns.c.dataset == code)
            .order_by(dataset_columns.c.position)
        ).all()


def _sql_department(store: Store, code: str) -> object:
    with store.read() as conn:
        conn.execute(select(departments).where(departments.c.code == code)).mappings().one()
        return conn.execute(
            select(elements.c.code, elements.c.name, elements.c.security)
            .where(elements.c.owner == code)
            .order_by(elements.c.code)
            .limit(50)
        ).all()


def _sql_datamap(store: Store) -> object:
    with store.read() as conn:
        return conn.execute(
            select(datasets.c.provider, elements.c.owner)
            .join(dataset_columns, dataset_columns.c.dataset == datasets.c.code)
            .join(elements, elements.c.code == dataset_columns.c.element)
            .where(datasets.c.provider != elements.c.owner)
            .distinct()
        ).all()


if __name__ == "__main__":
    main()
