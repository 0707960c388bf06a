"""Request limits, measured on the parsed query before anything else runs (before graphql-core's
own validation, whose overlapping-fields rule is quadratic in repeated aliases).

One linear pass over the operation (each fragment measured once, however often it is spread)
gives four figures, each with its limit:

- **aliases**: fields given an alias. Aliases are how one request asks for the same expensive
  field a thousand times; ``ALIAS_LIMIT`` beyond ``Limits.aliases``.
- **selections**: field selections, fragments expanded; ``ALIAS_LIMIT`` beyond ``Limits.selections``.
- **depth**: nested selections below the operation; ``DEPTH_LIMIT``. Introspection (``__schema``,
  ``__type``) does not count toward depth (its type references nest by design), but it is costed.
- **cost**: the work the request could cause. Each field costs 1; a connection multiplies its
  children by its page size (``first``, the default page size when absent); a list of objects
  that is not paginated (``columns``, ...) multiplies them by ``Limits.list_size`` (inside
  introspection: the schema's own number of types, and its average number of fields, arguments,
  enum values, ... for the other lists); a whole-registry question (``conflicts``, ``impact``, ``dataMap``,
  ``quality``, ``search``) adds the size of the registry it reads (elements plus datasets),
  since its resolver walks all of it however small the page asked for. ``COST_LIMIT`` beyond
  ``Limits.cost``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    is_composite_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef

from registry.api.errors import ErrorCode
from registry.api.limits import (
    LIST_SIZE,
    Limits,
)
from registry.api.pagination import DEFAULT_FIRST

INTRO_LIST_SIZE = 8  # what a list inside introspection (fields, args, enum values, ...) is assumed to hold
# Root fields whose resolver reads the whole registry, however small the page asked for.
REPORT_FIELDS = frozenset({"conflicts", "impact", "dataMap", "quality", "search"})


@dataclass
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0
    selections: int = 0


def _first(field: FieldNode, variables: dict[str, Any]) -> int:
    """The page size a connection field asks for (the default when not given)."""
    for arg in field.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return max(int(arg.value.value), 1)
            if isinstance(arg.value, VariableNode):
                value = variables.get(arg.value.name.value)
                return max(int(value), 1) if isinstance(value, int) else DEFAULT_FIRST
    return DEFAULT_FIRST


@functools.cache
def _intro_sizes(schema: GraphQLSchema) -> dict[str, int]:
    """How long each introspection list is in this schema (the average, rounded up)."""
    types = list(schema.type_map.values())

    def mean(values: list[int]) -> int:
        return max(1, math.ceil(sum(values) / len(values))) if values else 1

    # averaged over every type (``fields`` is null on a scalar, ``enumValues`` on an object, ...)
    with_fields = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    fields = [f for t in with_fields for f in t.fields.values()]
    objects = [t for t in types if isinstance(t, GraphQLObjectType)]
    return {
        "types": len(types),
        "fields": mean([len(t.fields) for t in with_fields] + [0] * (len(types) - len(with_fields))),
        "args": mean([len(f.args) for f in fields]),
        "inputFields": mean([len(t.fields) if isinstance(t, GraphQLInputObjectType) else 0 for t in types]),
        "enumValues": mean([len(t.values) if isinstance(t, GraphQLEnumType) else 0 for t in types]),
        "interfaces": mean([len(t.interfaces) for t in objects]),
        "possibleTypes": 1,
        "directives": len(schema.directives),
    }


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        report_size: Callable[[], int],
        list_size: int,
    ):
        self.schema = schema
        self.variables = variables
        self.report_size = report_size
        self.list_size = list_size
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.done: dict[str, Measure] = {}
        self.active: set[str] = set()
        self._size: int | None = None

    def selection_set(
        self, node: SelectionSetNode | None, parent: Any, root: bool = False, intro: bool = False
    ) -> Measure:
        """Depth (relative), cost, aliases and selections of a selection set on type ``parent``."""
        out = Measure()
        if node is None:
            return out
        for sel in node.selections:
            if isinstance(sel, FieldNode):
                sub = self.field(sel, parent, root, intro)
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                sub = self.selection_set(sel.selection_set, cond, root, intro)
            elif isinstance(sel, FragmentSpreadNode):
                sub = self.fragment(sel.name.value, root, intro)
            else:  # pragma: no cover - the three selection kinds are all there are
                continue
            out.depth = max(out.depth, sub.depth)
            out.cost += sub.cost
            out.aliases += sub.aliases
            out.selections += sub.selections
        return out

    def size(self) -> int:
        """The registry's size, asked once per request however many reports it names."""
        if self._size is None:
            self._size = self.report_size()
        return self._size

    def fragment(self, name: str, root: bool, intro: bool) -> Measure:
        key = f"{name}/{root}/{intro}"
        if key in self.done:
            return self.done[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:  # unknown or cyclic: validation refuses it next
            return Measure()
        self.active.add(name)
        cond = self.schema.get_type(fragment.type_condition.name.value)
        self.done[key] = measured = self.selection_set(fragment.selection_set, cond, root, intro)
        self.active.discard(name)
        return measured

    def field(self, node: FieldNode, parent: Any, root: bool, intro: bool) -> Measure:
        name = node.name.value
        aliases = 1 if node.alias is not None else 0
        if name == "__typename":
            return Measure(depth=1, cost=1, aliases=aliases, selections=1)
        if name == "__schema":
            definition: Any = SchemaMetaFieldDef
        elif name == "__type":
            definition = TypeMetaFieldDef
        else:
            fields = getattr(parent, "fields", None)
            definition = fields.get(name) if fields is not None else None
        many, named = 1, None
        if definition is not None:
            gtype, is_list = definition.type, False
            while isinstance(gtype, GraphQLNonNull | GraphQLList):
                is_list = is_list or isinstance(gtype, GraphQLList)
                gtype = gtype.of_type
            named = gtype
            if "first" in definition.args:
                many = _first(node, self.variables)
            elif is_list and is_composite_type(named) and intro:
                # introspection lists: the schema's real number of types, a typical number of the rest
                many = _intro_sizes(self.schema).get(name, INTRO_LIST_SIZE)
            elif is_list and is_composite_type(named):
                # a connection's edges are its page, already counted by ``first``
                in_connection = name == "edges" and str(getattr(parent, "name", "")).endswith("Connection")
                many = 1 if in_connection else self.list_size
        sub = self.selection_set(node.selection_set, named, intro=intro or name.startswith("__"))
        weight = self.size() if root and name in REPORT_FIELDS else 0
        depth = 1 if name.startswith("__") else sub.depth + 1
        return Measure(
            depth=depth,
            cost=1 + weight + many * sub.cost,
            aliases=aliases + sub.aliases,
            selections=1 + sub.selections,
        )


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
    report_size: Callable[[], int],
    list_size: int = LIST_SIZE,
) -> Measure:
    """The figures of one operation (see the module docstring)."""
    walker = _Walker(schema, document, variables or {}, report_size, list_size)
    root = schema.get_root_type(operation.operation)
    return walker.selection_set(operation.selection_set, root, root=True)


def refusal(found: Measure, limits: Limits, node: OperationDefinitionNode) -> GraphQLError | None:
    """The coded error for the first limit ``found`` exceeds, if any."""
    if found.aliases > limits.aliases:
        return GraphQLError(
            f"query uses {found.aliases} aliases; the limit is {limits.aliases} "
            "(send separate requests, or ask for a page of the list instead)",
            node,
            extensions={
                "code": str(ErrorCode.ALIAS_LIMIT),
                "aliases": found.aliases,
                "limit": limits.aliases,
            },
        )
    if found.selections > limits.selections:
        return GraphQLError(
            f"query selects {found.selections} fields; the limit is {limits.selections}",
            node,
            extensions={
                "code": str(ErrorCode.ALIAS_LIMIT),
                "selections": found.selections,
                "limit": limits.selections,
            },
        )
    if found.depth > limits.depth:
        return GraphQLError(
            f"query is {found.depth} levels deep; the limit is {limits.depth}",
            node,
            extensions={"code": str(ErrorCode.DEPTH_LIMIT), "depth": found.depth, "limit": limits.depth},
        )
    if found.cost > limits.cost:
        return GraphQLError(
            f"query could cost about {found.cost} units of work; the limit is {limits.cost} "
            "(ask for smaller pages with `first`, fewer nested lists or fewer whole-registry reports)",
            node,
            extensions={"code": str(ErrorCode.COST_LIMIT), "cost": found.cost, "limit": limits.cost},
        )
    return None
