"""What the API says when something goes wrong, and the sizes it refuses before any work.

- **Errors say nothing they should not** (:func:`public_result`, :func:`failure`): every error in a
  response carries ``extensions.code``. A resolver's deliberate refusal (:class:`ApiError`) and
  graphql-core's own request errors (syntax, validation, variable coercion) keep their message; a
  store too busy to take a write is ``BUSY`` (HTTP 503 with ``Retry-After``); anything else — a
  driver error quoting SQL and its parameters, a bug, a recursion — is ``INTERNAL`` with a
  ``requestId``, and its details (the traceback, with the store's password scrubbed) go only to
  the server's log (logger ``govreg.api``), under that id.
- **Long inputs are refused by size** (:func:`sizes_rule`): no string argument, literal or
  variable, at any depth of an input object or list, may be over :data:`MAX_STRING` characters,
  and some arguments have tighter limits (:data:`ARGUMENT_LIMITS`: ``search(text:)`` at most 200).
  ``INPUT_TOO_LONG`` names the argument and the limit, never the value.
- **JSON bodies nest at most** :data:`MAX_JSON_DEPTH` levels (:func:`loads`): deeper, or too deep
  for the parser, is HTTP 400 ``INVALID`` instead of a ``RecursionError``.
- **The request line and headers together are at most** :data:`MAX_HEADER_BYTES` (:class:`HeaderLimit`,
  an ASGI middleware, so it holds whichever HTTP parser the server runs): over it is HTTP 431
  ``HEADERS_TOO_LARGE``. ``govreg serve`` also bounds what its parser buffers
  (:func:`http_protocol`): h11 through its own option, httptools through a protocol that stops
  reading at the limit (HTTP 400 from the server, before the app sees the request).
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.api.errors import ApiError, ErrorCode, error_json
from registry.errors import StoreBusy
from registry.store.db import scrub

log = logging.getLogger("govreg.api")

MAX_STRING = 10_000  # characters in any one string argument
ARGUMENT_LIMITS: Mapping[tuple[str, str], int] = {("search", "text"): 200}  # (field, argument) → chars
MAX_JSON_DEPTH = 64
MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE = 1_000  # characters of an error message (graphql-core's may quote a long input)
RETRY_AFTER = 2  # seconds, on a BUSY answer


def request_id() -> str:
    return secrets.token_hex(8)


# --- errors ------------------------------------------------------------------------------------
def _internal(rid: str) -> dict[str, Any]:
    return {
        "message": f"internal error: the server could not answer this; quote request {rid} to its operators",
        "extensions": {"code": str(ErrorCode.INTERNAL), "requestId": rid},
    }


def _busy(exc: StoreBusy) -> dict[str, Any]:
    return {"message": str(exc), "extensions": {"code": str(ErrorCode.BUSY), "retryAfter": RETRY_AFTER}}


def _log(rid: str, exc: BaseException, url: str, where: str = "") -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("request %s%s failed: %s", rid, f" at {where}" if where else "", scrub(text, url))


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"


def public_error(error: GraphQLError, rid: str, url: str) -> tuple[dict[str, Any], bool]:
    """One error as the client may see it, and whether it is BUSY."""
    shown = dict(error.formatted)
    orig = error.original_error
    code = (error.extensions or {}).get("code")
    if isinstance(orig, StoreBusy):
        return {**shown, **_busy(orig)}, True
    if error.path is None:  # a request error (syntax, validation, coercion): graphql-core's own words
        return {
            **shown,
            "message": _short(error.message),
            "extensions": {**(error.extensions or {}), "code": code or str(ErrorCode.INVALID)},
        }, False
    if code and (orig is None or isinstance(orig, ApiError | GraphQLError)):
        return {**shown, "message": _short(error.message)}, False
    _log(rid, orig or error, url, ".".join(map(str, error.path)))
    return {**{k: v for k, v in shown.items() if k in ("locations", "path")}, **_internal(rid)}, False


def public_result(result: ExecutionResult, rid: str, url: str) -> tuple[int, dict[str, Any]]:
    """The response body of an executed request (HTTP 503 when a write found the store busy)."""
    body = dict(result.formatted)
    if not result.errors:
        return 200, body
    shown = [public_error(e, rid, url) for e in result.errors]
    body["errors"] = [e for e, _ in shown]
    return (503 if any(busy for _, busy in shown) else 200), body


def failure(exc: BaseException, rid: str, url: str) -> tuple[int, dict[str, Any]]:
    """The answer to a request that raised instead of returning a result."""
    if isinstance(exc, StoreBusy):
        return 503, {"data": None, "errors": [_busy(exc)]}
    _log(rid, exc, url)
    return 500, {"data": None, "errors": [_internal(rid)]}


def json_response(status: int, body: dict[str, Any]) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER)}
    return JSONResponse(body, status_code=status, headers=headers)


def exception_handler(url: str) -> Callable[[Request, Exception], Response]:
    """Starlette's last resort (any route): a coded INTERNAL (or BUSY) answer, details logged."""

    def handle(request: Request, exc: Exception) -> Response:
        return json_response(*failure(exc, request_id(), url))

    return handle


# --- JSON --------------------------------------------------------------------------------------
def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads(data: bytes | str) -> Any:
    """``json.loads`` that refuses (ValueError) what nests deeper than :data:`MAX_JSON_DEPTH`;
    raises ``json.JSONDecodeError`` for what is not JSON."""
    try:
        value = json.loads(data)
    except RecursionError:
        value = None
        too_deep = True
    else:
        too_deep = _depth(value) > MAX_JSON_DEPTH
    if too_deep:
        raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return value


# --- headers -----------------------------------------------------------------------------------
class HeaderLimit:
    """ASGI middleware: HTTP 431 when the request target and headers exceed ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_HEADER_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            target = scope.get("raw_path") or scope.get("path", "").encode()
            size = len(target) + len(scope.get("query_string", b""))
            size += sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
            if size > self.limit:
                body = error_json(
                    ErrorCode.HEADERS_TOO_LARGE,
                    f"the request line and headers are {size} bytes; at most {self.limit} are accepted",
                )
                response = JSONResponse(body, status_code=431, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_protocol(name: str, limit: int = MAX_HEADER_BYTES) -> Any:
    """The uvicorn ``http`` setting for ``name`` (auto, h11 or httptools) that buffers at most
    ``limit`` bytes of request line and headers. h11 bounds itself (uvicorn's
    ``h11_max_incomplete_event_size``, which the caller sets); httptools has no such option, so
    its protocol is wrapped to count what it is fed and stop at the limit."""
    if name == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            return "h11"
        name = "httptools"
    if name == "h11":
        return "h11"
    if name != "httptools":
        raise ValueError(f"unknown HTTP implementation {name!r}: use auto, h11 or httptools")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpTools(HttpToolsProtocol):
        """Counts the bytes received while a request's head is being read (httptools buffers a
        header whole before reporting it, so counting headers would come too late)."""

        _reading_head = True  # between one message's end (or the connection's start) and its headers' end
        _head_bytes = 0
        _events = 0

        def data_received(self, data: bytes) -> None:
            self._events = 0
            super().data_received(data)
            # a chunk in which the head ended (or a message, then a new head began) is not counted
            if self._reading_head and not self._events and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > limit:
                    self.send_400_response("Request line and headers too large.")

        def on_headers_complete(self) -> None:
            self._reading_head, self._head_bytes, self._events = False, 0, self._events + 1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._reading_head, self._head_bytes, self._events = True, 0, self._events + 1
            super().on_message_complete()

    return BoundedHttpTools


# --- argument sizes ----------------------------------------------------------------------------
def _longest_value(value: Any) -> int:
    """The longest string anywhere in a JSON-like value (iteratively: variables may be deep)."""
    longest, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            longest = max(longest, len(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return longest


class _Uses(Visitor):
    """Every argument of a document: its limit, the longest string written in it and the
    variables it reads; and each variable's default's longest string (no type information needed)."""

    def __init__(self) -> None:
        super().__init__()
        self.uses: list[tuple[int, int, tuple[str, ...]]] = []
        self.defaults: dict[str, int] = {}

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
        if node.default_value is not None:
            self.defaults[node.variable.name.value] = _literal(node.default_value)[0]

    def enter_argument(self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any, ancestors: Any) -> None:
        owner = ancestors[-1] if ancestors else None
        field = owner.name.value if isinstance(owner, FieldNode) else ""
        self.uses.append((ARGUMENT_LIMITS.get((field, node.name.value), MAX_STRING), *_literal(node.value)))


def _literal(value: ValueNode) -> tuple[int, tuple[str, ...]]:
    """The longest string literal in a value, and the variables it reads."""
    longest, names, stack = 0, [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, StringValueNode):
            longest = max(longest, len(item.value))
        elif isinstance(item, VariableNode):
            names.append(item.name.value)
        elif isinstance(item, ListValueNode):
            stack.extend(item.values)
        elif isinstance(item, ObjectValueNode):
            stack.extend(f.value for f in item.fields)
    return longest, tuple(names)


def argument_uses(
    document: DocumentNode,
) -> tuple[tuple[tuple[int, int, tuple[str, ...]], ...], dict[str, int]]:
    """What :func:`sizes_within` needs of a document (computed once per query text by the caller)."""
    uses = _Uses()
    visit(document, uses)
    return tuple(uses.uses), uses.defaults


def sizes_within(
    found: tuple[tuple[tuple[int, int, tuple[str, ...]], ...], dict[str, int]],
    variables: Mapping[str, Any] | None,
) -> bool:
    """Whether every argument is within its limit with these variables: the quick check made on
    every request; only when it fails does :func:`sizes_rule` run, to say which argument."""
    uses, defaults = found
    given = variables or {}
    if any(longest > MAX_STRING for longest in defaults.values()):
        return False
    for limit, literal, names in uses:
        longest = literal
        for name in names:
            longest = max(longest, _longest_value(given[name]) if name in given else defaults.get(name, 0))
        if longest > limit:
            return False
    return True


def sizes_rule(variables: Mapping[str, Any] | None) -> type[ValidationRule]:
    """A validation rule refusing string arguments over their limit (``INPUT_TOO_LONG``)."""
    given = dict(variables or {})

    class ArgumentSizes(ValidationRule):
        def __init__(self, context: ValidationContext):
            super().__init__(context)
            self.defaults: dict[str, ValueNode] = {}

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            self.defaults = {
                d.variable.name.value: d.default_value
                for d in node.variable_definitions or ()
                if d.default_value is not None
            }

        def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> None:
            if node.default_value is not None and self.longest(node.default_value) > MAX_STRING:
                self.refuse(node, f"the default of ${node.variable.name.value}", MAX_STRING)

        def enter_argument(
            self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any, ancestors: Any
        ) -> None:
            owner = ancestors[-1] if ancestors else None
            field = owner.name.value if isinstance(owner, FieldNode) else ""
            limit = ARGUMENT_LIMITS.get((field, node.name.value), MAX_STRING)
            if self.longest(node.value) > limit:
                what = (
                    f"argument {node.name.value!r} of {field!r}" if field else f"argument {node.name.value!r}"
                )
                self.refuse(node, what, limit)

        def longest(self, value: ValueNode) -> int:
            longest, stack = 0, [value]
            while stack:
                item = stack.pop()
                if isinstance(item, StringValueNode):
                    longest = max(longest, len(item.value))
                elif isinstance(item, VariableNode):
                    name = item.name.value
                    if name in given:
                        longest = max(longest, _longest_value(given[name]))
                    elif name in self.defaults:
                        stack.append(self.defaults[name])
                elif isinstance(item, ListValueNode):
                    stack.extend(item.values)
                elif isinstance(item, ObjectValueNode):
                    stack.extend(f.value for f in item.fields)
            return longest

        def refuse(self, node: Any, what: str, limit: int) -> None:
            self.report_error(
                GraphQLError(
                    f"{what} is too long: at most {limit} characters are accepted",
                    node,
                    extensions={"code": str(ErrorCode.INPUT_TOO_LONG), "limit": limit},
                )
            )

    return ArgumentSizes
