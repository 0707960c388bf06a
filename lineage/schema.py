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

from sqlglot.errors import SqlglotError

from lineage.models import StatementLineage
from lineage.parse import extract_lineage
from lineage.tables import tables_read

if TYPE_CHECKING:
    from registry.home import Registry
    from registry.model import Indicator, View


def output_columns(lineage: Sequence[StatementLineage]) -> list[str]:
    """The output column names of a view's query, in order, stars expanded.

    They come from the last statement that was traced; columns fed by nothing (``'x' AS
    label``) are among them, since they have no edge. When nothing could be traced, the targets
    of the edges stand in.

    >>> output_columns(extract_lineage("select a, 'x' as label from t", schema={"t": ["a", "b"]}))
    ['a', 'label']
    >>> output_columns(extract_lineage("select * from t", schema={"t": ["a", "b"]}, default_target="v"))
    ['a', 'b']
    """
    for statement in reversed(lineage):
        names = [n for n in statement.outputs if n and n != "*"]
        if statement.status != "failed" and names:
            return list(dict.fromkeys(names))
    seen: dict[str, None] = {}
    for statement in lineage:
        for edge in statement.columns:
            seen.setdefault(edge.target.column, None)
    return list(seen)


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
        columns = output_columns(lineage)
        if columns:
            schema[code] = columns
    return schema
