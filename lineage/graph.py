"""Traversing lineage: upstream or downstream, by table or by column, with a depth limit and paging.

>>> from lineage.models import ColumnEdge, ColumnRef
>>> g = LineageGraph([ColumnEdge(ColumnRef("t", "a"), ColumnRef("v", "a"), "direct"),
...                   ColumnEdge(ColumnRef("v", "a"), ColumnRef("w", "x"), "aggregation")])
>>> [(str(s.node), s.depth) for s in g.walk(Node("t", "a"), "downstream", depth=5)]
[('t.a', 0), ('v.a', 1), ('w.x', 2)]
>>> [str(s.node) for s in g.walk(Node("w"), "upstream", depth=1)]
['w', 'v']
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from lineage.models import ColumnEdge

Direction = Literal["upstream", "downstream"]
T = TypeVar("T")


@dataclass(frozen=True, order=True)
class Node:
    """A table, or a column of it (``column`` set)."""

    table: str
    column: str | None = None

    def __str__(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class Step:
    """A node reached by a walk: how far, and by which kinds of edge it was reached."""

    node: Node
    depth: int
    via: frozenset[str]
    parent: Node | None = None


class LineageGraph:
    """Adjacency over column edges, answering table- and column-level walks."""

    def __init__(self, edges: Iterable[ColumnEdge]):
        self.edges = list(edges)
        self._down: dict[Node, dict[Node, set[str]]] = {}
        self._up: dict[Node, dict[Node, set[str]]] = {}
        for e in self.edges:
            for source, target in (
                (Node(e.source.table, e.source.column), Node(e.target.table, e.target.column)),
                (Node(e.source.table), Node(e.target.table)),
            ):
                if source == target:
                    continue
                self._down.setdefault(source, {}).setdefault(target, set()).add(e.kind)
                self._up.setdefault(target, {}).setdefault(source, set()).add(e.kind)

    def neighbours(self, node: Node, direction: Direction) -> dict[Node, set[str]]:
        return (self._down if direction == "downstream" else self._up).get(node, {})

    def walk(
        self, start: Node, direction: Direction, depth: int = 3, include_indirect: bool = True
    ) -> list[Step]:
        """Breadth-first from ``start`` (depth 0) up to ``depth`` hops; each node once, nearest first."""
        seen = {start}
        steps = [Step(start, 0, frozenset())]
        queue = deque([(start, 0)])
        while queue:
            node, level = queue.popleft()
            if level >= depth:
                continue
            for neighbour, kinds in sorted(self.neighbours(node, direction).items()):
                usable = kinds if include_indirect else kinds - {"indirect"}
                if not usable or neighbour in seen:
                    continue
                seen.add(neighbour)
                steps.append(Step(neighbour, level + 1, frozenset(usable), node))
                queue.append((neighbour, level + 1))
        return steps


def encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{index}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The index after which a page starts; an unreadable cursor is an error, not a silent restart."""
    if not cursor:
        return -1
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


@dataclass(frozen=True)
class Page:
    items: tuple[object, ...]
    start_cursor: str | None
    end_cursor: str | None
    has_next_page: bool
    total: int


def paginate(items: Sequence[T], first: int = 50, after: str | None = None) -> Page:
    """Relay-style paging over a stable sequence."""
    if first < 0:
        raise ValueError("first must be zero or more")
    start = decode_cursor(after) + 1
    chunk = items[start : start + first]
    return Page(
        tuple(chunk),
        encode_cursor(start) if chunk else None,
        encode_cursor(start + len(chunk) - 1) if chunk else None,
        start + len(chunk) < len(items),
        len(items),
    )
