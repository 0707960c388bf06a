"""Lineage results as plain frozen values: tables, columns, edges, and each statement's outcome.

Failures are data too: a statement that cannot be parsed is a :class:`StatementLineage` with
``status="failed"`` and a reason and position, never an exception.

>>> edge = ColumnEdge(ColumnRef("t", "a"), ColumnRef("v", "a"), "direct")
>>> str(edge)
't.a -> v.a (direct)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

EdgeKind = Literal["direct", "transformation", "aggregation", "indirect"]
Status = Literal["ok", "partial", "failed"]

RANK: dict[str, int] = {"direct": 0, "transformation": 1, "aggregation": 2}
"""How much a value changes on the way: composing two steps keeps the stronger kind."""


def compose(outer: str, inner: str) -> str:
    """The kind of a two-step path (``outer`` applied to what ``inner`` produced).

    >>> compose("direct", "aggregation"), compose("transformation", "direct")
    ('aggregation', 'transformation')
    """
    return outer if RANK[outer] >= RANK[inner] else inner


class ColumnRef(NamedTuple):
    """A column of a table; ``table`` may be schema-qualified (``schema.table``).

    A named tuple, not a dataclass: lineage hashes and compares millions of them, and a tuple's
    hash and order are computed in C.
    """

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"

    def __repr__(self) -> str:
        return f"ColumnRef(table={self.table!r}, column={self.column!r})"


@dataclass(frozen=True, order=True, slots=True)
class ColumnEdge:
    source: ColumnRef
    target: ColumnRef
    kind: EdgeKind

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind})"

    def to_json(self) -> dict[str, str]:
        return {"source": str(self.source), "target": str(self.target), "kind": self.kind}


def edge_order(edge: ColumnEdge) -> tuple[str, str, str, str, str]:
    """The sort key of an edge: its natural order, as a plain tuple (compared in C, not field by field)."""
    return (edge.source.table, edge.source.column, edge.target.table, edge.target.column, edge.kind)


@dataclass(frozen=True, slots=True)
class StatementLineage:
    """What one statement reads and writes, column by column."""

    index: int
    sql: str
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    columns: tuple[ColumnEdge, ...] = ()
    status: Status = "ok"
    reason: str | None = None
    line: int | None = None
    col: int | None = None
    kind: str = ""  # the statement: select, create, insert, merge, update, ...
    notes: tuple[str, ...] = field(default=())
    outputs: tuple[str, ...] = ()  # the target's columns, in order
    unresolved: tuple[str, ...] = ()  # target columns whose sources are not all known (fail closed)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "targets": list(self.targets),
            "columns": [e.to_json() for e in self.columns],
            "status": self.status,
            "reason": self.reason,
        }
