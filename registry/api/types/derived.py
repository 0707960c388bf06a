"""View and Indicator: SQL defined over datasets, with lineage parsed from that SQL."""

from __future__ import annotations

from typing import Any

import graphene

from registry.api.pagination import CountedConnection
from registry.api.types.base import Row, spec
from registry.api.types.catalog import Department


class _Query:
    code = graphene.String(required=True, description="Stable code.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    owner = graphene.Field(Department, description="The department that owns it.")
    query = graphene.String(description="Its SQL.")
    description = graphene.String(description="What it is for.")

    @staticmethod
    def resolve_owner(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["owner"])

    @staticmethod
    def resolve_description(row: Row, info: Any) -> str | None:
        return spec(row).get("description")


class View(_Query, graphene.ObjectType):
    """A derived dataset defined by SQL over other datasets."""


class Indicator(_Query, graphene.ObjectType):
    """A named SQL metric that answers a question the center has set."""

    question = graphene.String(description="The question it answers.")
    unit = graphene.String(description="Unit of the metric.")

    @staticmethod
    def resolve_question(row: Row, info: Any) -> str | None:
        return spec(row).get("question")

    @staticmethod
    def resolve_unit(row: Row, info: Any) -> str | None:
        return spec(row).get("unit")


class ViewConnection(CountedConnection):
    """A page of views."""

    class Meta:
        node = View


class IndicatorConnection(CountedConnection):
    """A page of indicators."""

    class Meta:
        node = Indicator
