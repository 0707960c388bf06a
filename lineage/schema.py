"""The columns of every table a registry's SQL can read: datasets, views and indicators.

A dataset's warehouse table is named by its code and its columns by element code. A view's (or
an indicator's) columns are what its query outputs, so they are computed from its SQL, in
dependency order, since a view may read other views: each query is traced with
:func:`lineage.parse.extract_lineage` against the tables known so far, and its output columns —
stars expanded against the same schema — are added before the queries that read it.

>>> from registry.home import Registry
>>> registry_schema(Registry.empty())
{}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from lineage.models import StatementLineage
from lineage.parse import extract_lineage
from lineage.tables import tables_read

if TYPE_CHECKING:
    from registry.home import Registry
    from registry.model import Indicator, View


def output_columns(
    sql: str, dialect: str, schema: Mapping[str, Sequence[str]], lineage: Sequence[StatementLineage] = ()
) -> list[str]:
    """The output column names of a query, in order (stars expanded against ``schema``).

    Columns fed by nothing (``'x' AS label``) have no lineage edge, so the names come from the
    query itself; when it cannot be qualified, the targets of ``lineage``'s edges stand in.

    >>> output_columns("select a, 'x' as label from t", "duckdb", {"t": ["a", "b"]})
    ['a', 'label']
    >>> output_columns("select * from t", "duckdb", {"t": ["a", "b"]})
    ['a', 'b']
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        lowered = {k.lower(): [c.lower() for c in v] for k, v in schema.items()}
        qualified = qualify(
            tree,
            dialect=dialect,
            schema=sqlglot_schema(lowered) or None,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        if isinstance(qualified, exp.Query):
            names = [n for n in qualified.named_selects if n and n != "*"]
            if names:
                return list(dict.fromkeys(names))
    except (SqlglotError, ValueError, KeyError):
        pass
    seen: dict[str, None] = {}
    for statement in lineage:
        for edge in statement.columns:
            seen.setdefault(edge.target.column, None)
    return list(seen)


def sqlglot_schema(schema: Mapping[str, Sequence[str]]) -> dict[str, object]:
    """``{"db.table": [cols]}`` → sqlglot's ``{"db": {"table": {col: type}}}``, all names equally deep."""
    nested: dict[str, object] = {}
    depth = max((len(k.split(".")) for k in schema), default=1)
    for name, columns in schema.items():
        parts = name.split(".")
        parts = [""] * (depth - len(parts)) + parts
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[parts[-1]] = {c: "TEXT" for c in columns}
    return nested


def _query_order(queries: Mapping[str, View | Indicator]) -> list[str]:
    """Query codes, each after the views it reads (declaration order when there is a cycle)."""
    graph: dict[str, set[str]] = {}
    for code, query in queries.items():
        try:
            reads = tables_read(query.query or "", query.dialect)
        except SqlglotError:
            reads = set()
        graph[code] = {t for t in reads if t in queries and t != code}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError:
        return list(queries)


def registry_schema(registry: Registry) -> dict[str, list[str]]:
    """Table → columns for every dataset (element codes), view and indicator (output columns)."""
    schema: dict[str, list[str]] = {
        code: [column.element for column in dataset.columns] for code, dataset in registry.datasets.items()
    }
    queries: dict[str, View | Indicator] = {**registry.views, **registry.indicators}
    for code in _query_order(queries):
        query = queries[code]
        sql = query.query or ""
        lineage = extract_lineage(sql, query.dialect, schema=schema, default_target=code)
        columns = output_columns(sql, query.dialect, schema, lineage)
        if columns:
            schema[code] = columns
    return schema
