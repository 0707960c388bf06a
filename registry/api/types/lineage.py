"""LineageEdge, LineageNode and Lineage: table- and column-level lineage walks."""

from __future__ import annotations

from typing import Any

import graphene

from registry.api.pagination import CountedConnection, page_args


class LineageEdge(graphene.ObjectType):
    """A column-to-column edge parsed from a view's or indicator's SQL."""

    source_table = graphene.String(required=True, description="Table (dataset or view) read from.")
    source_column = graphene.String(required=True, description="Column read from.")
    target_table = graphene.String(required=True, description="Table (view or indicator) written.")
    target_column = graphene.String(required=True, description="Column written.")
    kind = graphene.String(required=True, description="direct, transformation, aggregation or indirect.")


class LineageNode(graphene.ObjectType):
    """A table or column reached by a lineage walk."""

    node = graphene.String(required=True, description="``table`` or ``table.column``.")
    table = graphene.String(required=True, description="Table code.")
    column = graphene.String(description="Column name, for column-level walks.")
    depth = graphene.Int(required=True, description="Hops from the start (0 is the start).")
    via = graphene.List(graphene.NonNull(graphene.String), required=True, description="Edge kinds used.")
    parent = graphene.String(description="The node it was reached from.")


class LineageNodeConnection(CountedConnection):
    """A page of lineage nodes, nearest first."""

    class Meta:
        node = LineageNode


class Lineage(graphene.ObjectType):
    """The result of a lineage walk from one node."""

    start = graphene.String(required=True, description="Where the walk started.")
    direction = graphene.String(required=True, description="upstream or downstream.")
    depth = graphene.Int(required=True, description="Maximum hops followed.")
    nodes = graphene.Field(LineageNodeConnection, required=True, description="Nodes reached.", **page_args())
    edges = graphene.List(
        graphene.NonNull(LineageEdge), required=True, description="Edges between the nodes reached."
    )

    @staticmethod
    def resolve_nodes(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        from registry.api.pagination import list_page

        return list_page(LineageNodeConnection, root["nodes"], first, after)
