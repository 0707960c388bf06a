"""The ASGI app: ``/graphql`` (POST and GET; GraphiQL for browsers) and ``/healthz``.

Requests are authenticated with ``Authorization: Bearer <token>`` (401 without a valid one).
Each request runs in a worker thread with one read connection to the metadata store; the body
is refused over ``max_body`` bytes (413). What an error may say, and the sizes refused before any
work (headers, JSON nesting, argument lengths), is :mod:`registry.api.guards`.

GraphiQL's scripts and styles are vendored in ``static/graphiql`` and served, without a token, from
``/graphiql-static/<name>``; the page needs no CDN. Opening ``/graphql#token=<token>`` fills the
headers editor with ``{"Authorization": "Bearer <token>"}`` (a fragment never reaches the server
or its logs, and the page drops it from the address bar).
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from registry.api import guards
from registry.api.context import RegistryCache, RequestContext
from registry.api.errors import ErrorCode, error_json
from registry.api.schema import Limits, run
from registry.store.db import Store
from registry.store.tokens import touch_token, verify_token

MAX_BODY = 256 * 1024

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


def create_app(store: Store, *, max_body: int = MAX_BODY, limits: Limits = Limits()) -> Starlette:
    registries = RegistryCache(store)

    def execute(
        token_text: str, params: dict[str, Any], read_only: bool, rid: str
    ) -> tuple[int, dict[str, Any]]:
        with store.read() as conn:
            token = verify_token(store, token_text, conn)
            if token is None:
                return 401, error_json(ErrorCode.UNAUTHENTICATED, "a valid bearer token is required")
            context = RequestContext(store=store, conn=conn, token=token, registries=registries)
            result = run(
                context,
                params["query"],
                params.get("variables"),
                params.get("operationName"),
                read_only=read_only,
                limits=limits,
            )
        touch_token(store, token)
        return guards.public_result(result, rid, store.url)

    async def graphql(request: Request) -> Response:
        if (
            request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and not request.query_params
        ):
            return HTMLResponse(GRAPHIQL)
        auth = request.headers.get("authorization", "")
        scheme, _, token_text = auth.partition(" ")
        if scheme.lower() != "bearer" or not token_text.strip():
            return _json(401, error_json(ErrorCode.UNAUTHENTICATED, "a bearer token is required"))
        try:
            params = await _params(request, max_body)
        except _TooLarge:
            return _json(413, error_json(ErrorCode.PAYLOAD_TOO_LARGE, f"request body over {max_body} bytes"))
        except ValueError as exc:
            return _json(400, error_json(ErrorCode.INVALID, str(exc)))
        rid = guards.request_id()
        try:
            status, body = await run_in_threadpool(
                execute, token_text.strip(), params, request.method == "GET", rid
            )
        except Exception as exc:  # coded (INTERNAL or BUSY); the details go to the server log only
            status, body = guards.failure(exc, rid, store.url)
        return _json(status, body)

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
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphiql-static/{name}", graphiql_static, methods=["GET"]),
        ],
        middleware=[Middleware(guards.HeaderLimit)],
        exception_handlers={Exception: guards.exception_handler(store.url)},
    )


@functools.cache
def _static_gzip(name: str) -> bytes:
    """A vendored GraphiQL file, gzip-compressed as stored (read once per process)."""
    return (STATIC / f"{name}.gz").read_bytes()


def _json(status: int, body: dict[str, Any]) -> Response:
    return guards.json_response(status, body)  # WWW-Authenticate on 401, Retry-After on 503


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
