"""The ASGI app: ``/graphql`` (POST and GET; GraphiQL for browsers) and ``/healthz``.

Requests are authenticated with ``Authorization: Bearer <token>`` (401 without a valid one).
Each request runs in a worker thread with one read connection to the metadata store; the body
is refused over ``max_body`` bytes (413). Each request is measured before it runs (aliases,
selections, depth, cost: ``validation.py``), charged to its token's cost budget, limited in
requests and heavy requests in flight per token (429) and stopped at its time budget
(``TIME_LIMIT``). A caller whose requests keep being refused for what they ask is cooled down
(``pacing.Strikes``): its requests are then refused at the door, unread, and the answer held back
(429 ``RATE_LIMIT``), so abuse costs the server almost nothing and other callers are not slowed.
A full introspection's answer is the same for everyone: it is computed once and kept. Every
refusal, a missing, unknown or revoked token included, is an ``access_denied`` audit event,
identical ones aggregated (``pacing.DenialLog``), flushed on shutdown. What an error may say, and
the sizes refused before any work (headers, JSON nesting, argument lengths), is
:mod:`registry.api.guards`.

GraphiQL's scripts and styles are vendored in ``static/graphiql`` and served, without a token, from
``/graphiql-static/<name>``; the page needs no CDN. Opening ``/graphql#token=<token>`` fills the
headers editor with ``{"Authorization": "Bearer <token>"}`` (a fragment never reaches the server
or its logs, and the page drops it from the address bar).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from graphql import ExecutionResult, FieldNode, GraphQLError, OperationDefinitionNode
from sqlalchemy import Connection, func, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from registry.api import guards
from registry.api.context import RegistryCache, RequestContext
from registry.api.errors import ErrorCode, error_json
from registry.api.pacing import Budget, Denial, DenialLog, InFlight, Strikes, presented
from registry.api.schema import Limits, Prepared, execute_prepared, prepare
from registry.store.db import Store
from registry.store.schema import changes, datasets, elements
from registry.store.tokens import hash_token, touch_token, verify_token

MAX_BODY = 256 * 1024
MAX_HELD = 256  # cooled-down refusals held back at once; beyond, answered at once (and the connection closed)

STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
# The vendored files (gzip-compressed on disk; see static/graphiql/README.md) and their media types.
STATIC_TYPES = {
    "graphiql.min.css": "text/css; charset=utf-8",
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
}

GRAPHIQL = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>govreg GraphiQL</title>
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="/graphiql-static/graphiql.min.css" />
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/graphiql-static/react.production.min.js"></script>
  <script src="/graphiql-static/react-dom.production.min.js"></script>
  <script src="/graphiql-static/graphiql.min.js"></script>
  <script>
    // /graphql#token=<token> prefills the Authorization header; the token is then removed from the URL.
    const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (token) history.replaceState(null, "", window.location.pathname + window.location.search);
    window.addEventListener("hashchange", () => window.location.reload());  // a token pasted later
    const headers = JSON.stringify({ Authorization: "Bearer " + (token || "<your token>") }, null, 2);
    const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {
        fetcher,
        headers,
        defaultHeaders: headers,
        defaultEditorToolsVisibility: token ? false : "headers",
        defaultQuery:
          "{ me { department role } elements(first: 5) { edges { node { code name owner { name } } } } }",
      })
    );
  </script>
</body>
</html>
"""


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


AUDITED = frozenset(
    str(c)
    for c in (
        ErrorCode.NOT_FOUND,
        ErrorCode.DEPTH_LIMIT,
        ErrorCode.COST_LIMIT,
        ErrorCode.ALIAS_LIMIT,
        ErrorCode.TIME_LIMIT,
        ErrorCode.TOO_MANY_REQUESTS,
        ErrorCode.RATE_LIMIT,
        ErrorCode.PAYLOAD_TOO_LARGE,
    )
)  # FORBIDDEN is audited by the resolver that refuses (RequestContext.deny)

# Refusals for what a request asks (not for who asks or what exists): each is a strike.
STRIKING = frozenset(
    str(c)
    for c in (
        ErrorCode.DEPTH_LIMIT,
        ErrorCode.COST_LIMIT,
        ErrorCode.ALIAS_LIMIT,
        ErrorCode.TIME_LIMIT,
        ErrorCode.TOO_MANY_REQUESTS,
        ErrorCode.RATE_LIMIT,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.INPUT_TOO_LONG,
    )
)


def _introspection_only(operation: OperationDefinitionNode) -> bool:
    """Only ``__schema`` / ``__type`` / ``__typename`` at the root: the same answer for every caller."""
    return all(
        isinstance(sel, FieldNode) and sel.name.value.startswith("__")
        for sel in operation.selection_set.selections
    )


class _Answers:
    """Introspection answers by (query, operation, variables): the schema does not change while
    the server runs, and no introspection field depends on the caller."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._kept: dict[tuple[str, str, str], ExecutionResult] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> ExecutionResult | None:
        with self._lock:
            return self._kept.get(key)

    def keep(self, key: tuple[str, str, str], result: ExecutionResult) -> None:
        if result.errors:
            return
        with self._lock:
            if len(self._kept) >= self.size:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = result


class _Sizes:
    """Elements plus datasets in the store (what a whole-registry report reads), per change."""

    def __init__(self) -> None:
        self._key: Any = object()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, conn: Connection) -> int:
        key = conn.execute(select(func.max(changes.c.id))).scalar()
        with self._lock:
            if key == self._key:
                return self._size
        size = sum(
            int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in (elements, datasets)
        )
        with self._lock:
            self._key, self._size = key, size
        return size


def _refusals(errors: list[Any], who: str, actor: str, details: tuple[tuple[str, str], ...]) -> list[Denial]:
    """The audited refusals among a result's errors (one per code, entity and field)."""
    out: dict[tuple[str, ...], Denial] = {}
    for error in errors:
        ext = error.extensions or {}
        code = str(ext.get("code", ""))
        if code not in AUDITED:
            continue
        kind, _, entity = str(ext.get("entity") or "api:graphql").partition(":")
        path = getattr(error, "path", None) or ()
        where = str(ext.get("field") or (path[0] if path else "request"))
        denial = Denial(who, actor, code, kind, entity or "graphql", where, error.message[:2000], details)
        out.setdefault(denial.key, denial)
    return list(out.values())


def create_app(store: Store, *, max_body: int = MAX_BODY, limits: Limits = Limits()) -> Starlette:
    """The app. ``limits`` bounds each request (cost, aliases, depth, time) and paces each token
    (cost budget, heavy requests in flight); see ``registry.api.validation.Limits``."""
    registries = RegistryCache(store)
    denial_log = DenialLog(store, window=limits.deny_window)
    budget = Budget(limits.budget)
    heavy = InFlight(limits.heavy_per_token)
    running = InFlight(limits.per_token)
    strikes = Strikes(limits.strikes, limits.strike_window, limits.cooldown, limits.max_cooldown)
    answers = _Answers()
    held = 0  # cooled-down refusals being held back now (touched only on the event loop)
    sizes = _Sizes()

    def refused_token(token_text: str, address: str) -> tuple[int, dict[str, Any]]:
        with store.read() as conn:
            who, actor, why = presented(conn, token_text, address)
        denial_log.record(
            [Denial(who, actor, str(ErrorCode.UNAUTHENTICATED), "api", "authentication", "bearer", why)]
        )
        return 401, error_json(ErrorCode.UNAUTHENTICATED, "a valid bearer token is required")

    def execute(
        token_text: str, params: dict[str, Any], read_only: bool, address: str, rid: str, key: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers: dict[str, str] = {}
        status = 200
        with store.read() as conn:
            token = verify_token(store, token_text, conn)
            if token is None:
                conn.rollback()
                return (*refused_token(token_text, address), headers)
            who = f"token:{token.id}"
            details = (("department", token.department), ("role", token.role))
            prepared = prepare(
                params["query"],
                params.get("variables"),
                params.get("operationName"),
                read_only=read_only,
                limits=limits,
                report_size=lambda: sizes.get(conn),
            )
            if isinstance(prepared, Prepared):
                wait = budget.take(who, prepared.cost)
                entered = False
                if wait:
                    status, headers = 429, {"Retry-After": str(max(1, round(wait)))}
                    result = _coded(
                        ErrorCode.RATE_LIMIT,
                        f"this token has spent its cost budget ({limits.budget} a minute); this request "
                        f"costs {prepared.cost}: retry in {wait:.1f} s",
                        retryAfter=round(wait, 1),
                        cost=prepared.cost,
                    )
                elif prepared.cost >= limits.heavy_cost and not (entered := heavy.enter(who)):
                    status, headers = 429, {"Retry-After": "1"}
                    result = _coded(
                        ErrorCode.TOO_MANY_REQUESTS,
                        f"this token already has {limits.heavy_per_token} heavy requests (cost "
                        f"{limits.heavy_cost} or more) in flight; wait for one to finish",
                        cost=prepared.cost,
                    )
                else:
                    try:
                        result = run_prepared(token, conn, prepared, params)
                    finally:
                        if entered:
                            heavy.leave(who)
            else:
                result = prepared
        if result.errors:
            denial_log.record(_refusals(result.errors, who, token.actor, details))
            if any(str((e.extensions or {}).get("code")) in STRIKING for e in result.errors):
                strikes.strike(key, who, token.actor)
        touch_token(store, token)
        shown_status, body = guards.public_result(result, rid, store.url)  # coded, nothing internal
        return (status if status != 200 else shown_status), body, headers

    def run_prepared(
        token: Any, conn: Connection, prepared: Prepared, params: dict[str, Any]
    ) -> ExecutionResult:
        """Execute, or take a kept introspection answer (computed once, by the first to ask)."""
        kept_as = None
        if _introspection_only(prepared.operation):
            kept_as = (
                params["query"],
                str(params.get("operationName") or ""),
                json.dumps(params.get("variables") or {}, sort_keys=True, default=str),
            )
            kept = answers.get(kept_as)
            if kept is not None:
                return kept
        context = RequestContext(
            store=store, conn=conn, token=token, registries=registries, denial_log=denial_log
        )
        result = execute_prepared(
            context, prepared, params.get("variables"), params.get("operationName"), limits=limits
        )
        if kept_as is not None:
            answers.keep(kept_as, result)
        return result

    async def cooled_down(left: float, who: str, actor: str, count: int) -> Response:
        """Refuse a cooling-down caller unread; hold the answer back (a client sending back to back
        is slowed to about one request per ``limits.tarpit``), unless too many are held already."""
        nonlocal held
        wait = max(1, round(left))
        message = (
            f"{count} requests of this caller were refused in the last {limits.strike_window:g} s; "
            f"it is cooled down and refused unread for another {left:.1f} s"
        )
        await run_in_threadpool(
            denial_log.record,
            [Denial(who, actor, str(ErrorCode.RATE_LIMIT), "api", "graphql", "cooldown", message)],
        )
        headers = {"Retry-After": str(wait)}
        if held < MAX_HELD:
            held += 1
            try:
                await asyncio.sleep(min(left, limits.tarpit))
            finally:
                held -= 1
        else:
            headers["Connection"] = "close"
        body = error_json(ErrorCode.RATE_LIMIT, message)
        body["errors"][0]["extensions"].update(retryAfter=round(left, 1), cooldown=True)
        return _json(429, body, headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def flush_closed_windows() -> None:
            while True:
                await asyncio.sleep(max(0.05, min(limits.deny_window / 4, 5.0)))
                await run_in_threadpool(denial_log.flush)

        task = asyncio.create_task(flush_closed_windows())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(denial_log.flush, True)

    async def graphql(request: Request) -> Response:
        if (
            request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and not request.query_params
        ):
            return HTMLResponse(GRAPHIQL)
        address = request.client.host if request.client else "unknown"
        auth = request.headers.get("authorization", "")
        scheme, _, token_text = auth.partition(" ")
        if scheme.lower() != "bearer" or not token_text.strip():
            status, _ = await run_in_threadpool(refused_token, "", address)
            return _json(status, error_json(ErrorCode.UNAUTHENTICATED, "a bearer token is required"))
        key = "bearer:" + hash_token(token_text.strip())  # the token unverified: no store read yet
        cooling = strikes.cooling(key)
        if cooling is not None:
            return await cooled_down(*cooling)
        if not running.enter(key):
            message = f"this caller already has {limits.per_token} requests in flight; wait for one to finish"
            strikes.strike(key, f"addr:{address}", f"anonymous@{address}")
            await run_in_threadpool(
                denial_log.record,
                [
                    Denial(
                        f"addr:{address}",
                        f"anonymous@{address}",
                        str(ErrorCode.TOO_MANY_REQUESTS),
                        "api",
                        "graphql",
                        "in-flight",
                        message,
                    )
                ],
            )
            return _json(429, error_json(ErrorCode.TOO_MANY_REQUESTS, message), {"Retry-After": "1"})
        try:
            return await answer(request, token_text.strip(), address, key)
        finally:
            running.leave(key)

    async def answer(request: Request, token_text: str, address: str, key: str) -> Response:
        try:
            params = await _params(request, max_body)
        except _TooLarge:
            message = f"request body over {max_body} bytes"
            await run_in_threadpool(
                denial_log.record,
                [
                    Denial(
                        f"addr:{address}",
                        f"anonymous@{address}",
                        str(ErrorCode.PAYLOAD_TOO_LARGE),
                        "api",
                        "graphql",
                        "body",
                        message,
                    )
                ],
            )
            strikes.strike(key, f"addr:{address}", f"anonymous@{address}")
            return _json(413, error_json(ErrorCode.PAYLOAD_TOO_LARGE, message))
        except ValueError as exc:
            return _json(400, error_json(ErrorCode.INVALID, str(exc)))
        rid = guards.request_id()
        try:
            status, body, headers = await run_in_threadpool(
                execute, token_text, params, request.method == "GET", address, rid, key
            )
        except Exception as exc:  # coded (INTERNAL or BUSY); the details go to the server log only
            (status, body), headers = guards.failure(exc, rid, store.url), {}
        return _json(status, body, headers)

    async def healthz(request: Request) -> Response:
        version = await run_in_threadpool(store.schema_version)
        return JSONResponse({"status": "ok", "schema": version})

    async def graphiql_static(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = STATIC_TYPES.get(name)
        if media_type is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        try:
            body = await run_in_threadpool(_static_gzip, name)
        except FileNotFoundError:
            missing = f"{name} is not vendored: run scripts/fetch-graphiql.sh\n"
            return Response(missing, status_code=404, media_type="text/plain")
        headers = {"Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            headers["Content-Encoding"] = "gzip"
        else:
            body = gzip.decompress(body)
        return Response(body, media_type=media_type, headers=headers)

    return Starlette(
        lifespan=lifespan,
        middleware=[Middleware(guards.HeaderLimit)],
        exception_handlers={Exception: guards.exception_handler(store.url)},
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphiql-static/{name}", graphiql_static, methods=["GET"]),
        ],
    )


@functools.cache
def _static_gzip(name: str) -> bytes:
    """A vendored GraphiQL file, gzip-compressed as stored (read once per process)."""
    return (STATIC / f"{name}.gz").read_bytes()


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = guards.json_response(status, body)  # WWW-Authenticate on 401, Retry-After on 503
    response.headers.update(headers or {})
    return response


def _coded(code: ErrorCode, message: str, **details: Any) -> ExecutionResult:
    return ExecutionResult(None, [GraphQLError(message, extensions={"code": str(code), **details})])


async def _params(request: Request, limit: int) -> dict[str, Any]:
    """query, variables and operationName from a GET query string or a JSON POST body."""
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        if raw.get("variables"):
            try:
                raw["variables"] = guards.loads(raw["variables"])
            except json.JSONDecodeError as exc:
                raise ValueError(f"variables are not JSON: {exc}") from None
        if len(str(request.url)) > limit:
            raise _TooLarge
    else:
        body = await _body(request, limit)
        try:
            raw = guards.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"request body is not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("query"), str):
        raise ValueError("a GraphQL request needs a `query` string")
    if raw.get("variables") is not None and not isinstance(raw["variables"], dict):
        raise ValueError("`variables` must be a JSON object")
    return raw
