"""Lineage in the metadata store: each statement with its SQL, status and edges.

The registry's views and indicators are re-parsed whenever ``apply`` changes the registry (in the
same transaction), so the stored lineage always matches the stored registry. Coverage — how many
statements parsed fully, partially or not at all — is reported per department and dialect.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from lineage.models import ColumnEdge, ColumnRef
from lineage.views import RegistryLineage
from registry.home import Registry
from registry.store.db import Store
from registry.store.schema import lineage_edges, lineage_statements

REGISTRY_ORIGINS = ("view", "indicator")


def write_registry_lineage(conn: Connection, registry: Registry, change_id: int | None) -> int:
    """Replace the lineage of every view and indicator; returns the number of edges written."""
    ids = select(lineage_statements.c.id).where(lineage_statements.c.origin_kind.in_(REGISTRY_ORIGINS))
    conn.execute(delete(lineage_edges).where(lineage_edges.c.statement_id.in_(ids)))
    conn.execute(delete(lineage_statements).where(lineage_statements.c.origin_kind.in_(REGISTRY_ORIGINS)))
    written = 0
    for query in RegistryLineage(registry).queries.values():
        for statement in query.statements:
            statement_id = conn.execute(
                insert(lineage_statements).values(
                    origin_kind=query.kind,
                    origin=query.code,
                    department=query.owner,
                    dialect=query.dialect,
                    position=statement.index,
                    sql=statement.sql,
                    status=statement.status,
                    reason=statement.reason,
                    line=statement.line,
                    col=statement.col,
                    sources=json.dumps(list(statement.sources)),
                    targets=json.dumps(list(statement.targets)),
                    change_id=change_id,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            rows = [
                {
                    "statement_id": statement_id,
                    "source_table": e.source.table,
                    "source_column": e.source.column,
                    "target_table": e.target.table,
                    "target_column": e.target.column,
                    "kind": e.kind,
                }
                for e in statement.columns
            ]
            if rows:
                conn.execute(insert(lineage_edges), rows)
                written += len(rows)
    return written


def read_edges(store: Store) -> list[ColumnEdge]:
    with store.read() as conn:
        rows = conn.execute(
            select(
                lineage_edges.c.source_table,
                lineage_edges.c.source_column,
                lineage_edges.c.target_table,
                lineage_edges.c.target_column,
                lineage_edges.c.kind,
            ).order_by(lineage_edges.c.id)
        ).all()
    return [ColumnEdge(ColumnRef(a, b), ColumnRef(c, d), k) for a, b, c, d, k in rows]


def statements(store: Store, origin: str | None = None) -> list[dict[str, Any]]:
    stmt = select(lineage_statements).order_by(lineage_statements.c.id)
    if origin:
        stmt = stmt.where(lineage_statements.c.origin == origin)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def coverage(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """Statements ok / partial / failed per department and per dialect."""
    by_department: dict[str, Counter[str]] = {}
    by_dialect: dict[str, Counter[str]] = {}
    for row in rows:
        by_department.setdefault(row.get("department") or "(none)", Counter())[row["status"]] += 1
        by_dialect.setdefault(row["dialect"], Counter())[row["status"]] += 1
    shape = ("ok", "partial", "failed")
    return {
        "departments": {k: {s: v.get(s, 0) for s in shape} for k, v in sorted(by_department.items())},
        "dialects": {k: {s: v.get(s, 0) for s in shape} for k, v in sorted(by_dialect.items())},
    }
