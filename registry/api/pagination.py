"""Relay cursor connections over SQL (LIMIT/OFFSET after an opaque cursor) or computed lists."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import graphene
from graphene import relay
from sqlalchemy import Select, func, select

from registry.api.errors import ApiError, ErrorCode

DEFAULT_FIRST = 50
MAX_FIRST = 1000


def encode_cursor(index: int) -> str:
    """An opaque cursor for the result at ``index`` (0-based)."""
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The index after which a page starts; an unreadable or forged cursor (not govreg's, or a
    negative offset) is an error, not a silent restart."""
    if not cursor:
        return -1
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if kind != "offset" or not value.isdigit():  # isdigit: no sign, no spaces, no "1_000"
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


class CountedConnection(relay.Connection):
    """A page of results, with the total number of results across all pages."""

    class Meta:
        abstract = True

    total_count = graphene.Int(required=True, description="How many results there are across all pages.")


def page_args() -> dict[str, Any]:
    return {
        "first": graphene.Int(description=f"Page size (default {DEFAULT_FIRST}, at most {MAX_FIRST})."),
        "after": graphene.String(description="Cursor of the last result of the previous page."),
    }


def _window(first: int | None, after: str | None) -> tuple[int, int]:
    size = DEFAULT_FIRST if first is None else first
    if size < 0 or size > MAX_FIRST:
        raise ApiError(ErrorCode.INVALID, f"first must be between 0 and {MAX_FIRST}, got {size}")
    try:
        return decode_cursor(after) + 1, size
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID, str(exc)) from None


def _build(connection: type[Any], nodes: Sequence[Any], start: int, has_next: bool, total: int) -> Any:
    edges = [connection.Edge(node=n, cursor=encode_cursor(start + i)) for i, n in enumerate(nodes)]
    info = relay.PageInfo(
        has_next_page=has_next,
        has_previous_page=start > 0,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return connection(edges=edges, page_info=info, total_count=total)


def sql_page(
    info: Any,
    connection: type[Any],
    stmt: Select[Any],
    first: int | None,
    after: str | None,
    seen: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Any:
    """One page of ``stmt`` (which must be ordered); ``seen`` primes the loaders with it."""
    start, size = _window(first, after)
    conn = info.context.conn
    rows = [dict(r) for r in conn.execute(stmt.offset(start).limit(size + 1)).mappings()]
    has_next = len(rows) > size
    rows = rows[:size]
    total = conn.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    if seen is not None:
        seen(rows)
    return _build(connection, rows, start, has_next, total)


def list_page(connection: type[Any], items: Sequence[Any], first: int | None, after: str | None) -> Any:
    """One page of a list computed in memory."""
    start, size = _window(first, after)
    chunk = items[start : start + size]
    return _build(connection, chunk, start, start + size < len(items), len(items))


def child_page(
    info: Any,
    connection: type[Any],
    pages: Any,
    parent: str,
    first: int | None,
    after: str | None,
    seen: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Any:
    """One page of a parent's children through a batched :class:`~registry.api.loaders.PageLoader`."""
    start, size = _window(first, after)
    rows, total = pages.page(parent, start, size)
    has_next = len(rows) > size
    rows = rows[:size]
    if seen is not None:
        seen(rows)
    return _build(connection, rows, start, has_next, total)
