"""DataFlow, Conflict and Impact: whole-registry answers."""

from __future__ import annotations

from typing import Any

import graphene

from registry.api.pagination import CountedConnection
from registry.api.types.base import Row
from registry.api.types.catalog import Department
from registry.api.visibility import rule_text


class DataFlow(graphene.ObjectType):
    """Data of one department used by another: through agreements, or held as columns."""

    provider = graphene.Field(Department, description="The owner of the elements.")
    consumer = graphene.Field(Department, description="The department using or holding them.")
    provider_code = graphene.String(required=True, description="Code of the provider.")
    consumer_code = graphene.String(required=True, description="Code of the consumer.")
    kind = graphene.String(
        required=True,
        description="agreement (granted), replica (held under an agreement) or duplicate (held without one).",
    )
    elements = graphene.Int(required=True, description="How many distinct elements flow.")
    sharing_types = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="Sharing types of those elements."
    )

    @staticmethod
    def resolve_provider(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["provider_code"])

    @staticmethod
    def resolve_consumer(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["consumer_code"])


class Conflict(graphene.ObjectType):
    """A one-source finding: duplicate collection, unowned or orphaned element, ..."""

    code = graphene.String(required=True, description="Rule code (GOV0xx).")
    severity = graphene.String(required=True, description="error or warning.")
    message = graphene.String(
        required=True, description="What is wrong (restricted details you may not see: [restricted])."
    )
    location = graphene.String(description="Where it is declared (file:line).")
    hint = graphene.String(description="What to do.")

    # rule texts may quote restricted details: only through registry.api.visibility
    resolve_message = staticmethod(rule_text("message"))
    resolve_location = staticmethod(rule_text("location"))
    resolve_hint = staticmethod(rule_text("hint"))


class ImpactStep(graphene.ObjectType):
    """A column downstream of an element."""

    column = graphene.String(required=True, description="``table.column``.")
    depth = graphene.Int(required=True, description="Hops from a column carrying the element.")
    via = graphene.List(graphene.NonNull(graphene.String), required=True, description="Edge kinds.")
    source = graphene.String(description="The first affected column the walk reached it from.")
    sources = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Every affected column it is computed from (``table.column``).",
    )

    @staticmethod
    def resolve_source(row: Row, info: Any) -> str | None:
        value = row.get("from")
        return str(value) if value is not None else None


class ImpactConsumer(graphene.ObjectType):
    """A department consuming something affected: by agreement, replica or own collection, a
    service taking it from sharing, or a view or indicator of theirs reading it."""

    department = graphene.String(required=True, description="Consumer department code.")
    reasons = graphene.List(graphene.NonNull(graphene.String), required=True, description="Why.")


class Impact(graphene.ObjectType):
    """Everything a change to one element touches."""

    element = graphene.String(required=True, description="The element.")
    owner = graphene.String(required=True, description="Its owner department.")
    columns = graphene.List(graphene.NonNull(graphene.String), required=True, description="Carrying columns.")
    downstream = graphene.List(graphene.NonNull(ImpactStep), required=True, description="Columns downstream.")
    views = graphene.List(graphene.NonNull(graphene.String), required=True, description="Views affected.")
    indicators = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="Indicators affected."
    )
    consumers = graphene.List(
        graphene.NonNull(ImpactConsumer), required=True, description="Departments consuming affected data."
    )

    @staticmethod
    def resolve_consumers(row: Row, info: Any) -> list[Row]:
        return [{"department": d, "reasons": r} for d, r in row["consumers"].items()]


class DataFlowConnection(CountedConnection):
    """A page of data flows."""

    class Meta:
        node = DataFlow


class ConflictConnection(CountedConnection):
    """A page of conflicts."""

    class Meta:
        node = Conflict
