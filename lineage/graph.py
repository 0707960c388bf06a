"""Traversing lineage: upstream or downstream, by table or by column, with a depth limit.

>>> from lineage.models import ColumnEdge, ColumnRef
>>> g = LineageGraph([ColumnEdge(ColumnRef("t", "a"), ColumnRef("v", "a"), "direct"),
...                   ColumnEdge(ColumnRef("v", "a"), ColumnRef("w", "x"), "aggregation")])
>>> [(str(s.node), s.depth) for s in g.walk(Node("t", "a"), "downstream", depth=5)]
[('t.a', 0), ('v.a', 1), ('w.x', 2)]
>>> [str(s.node) for s in g.walk(Node("w"), "upstream", depth=1)]
['w', 'v']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
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
