"""Depth and cost limits, checked before execution (validation rules of graphql-core).

Depth counts nested selections below the operation (introspection fields ``__*`` are not
counted, so GraphiQL and clients can introspect). Cost is the number of nodes a query could
return: each field costs 1, multiplied by the ``first`` of every connection above it (50 when
not given).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)

from registry.api.errors import ErrorCode
from registry.api.pagination import DEFAULT_FIRST

MAX_DEPTH = 12
MAX_COST = 250_000


def _first(field: FieldNode, variables: dict[str, Any]) -> int:
    for arg in field.arguments or ():
        if arg.name.value == "first":
            if isinstance(arg.value, IntValueNode):
                return max(int(arg.value.value), 1)
            if isinstance(arg.value, VariableNode):
                value = variables.get(arg.value.name.value)
                return max(int(value), 1) if isinstance(value, int) else DEFAULT_FIRST
    return 0


def limits_rule(
    max_depth: int, max_cost: int, variables: dict[str, Any] | None = None
) -> type[ValidationRule]:
    values: dict[str, Any] = variables or {}

    class Limits(ValidationRule):
        def measure(
            self, selection_set: SelectionSetNode | None, depth: int, seen: frozenset[str]
        ) -> tuple[int, int]:
            """(deepest depth, cost) of a selection set."""
            if selection_set is None:
                return depth, 0
            deepest, cost = depth, 0
            ctx: ValidationContext = self.context
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    if sel.name.value.startswith("__"):
                        continue
                    sub_depth, sub_cost = self.measure(sel.selection_set, depth + 1, seen)
                    many = _first(sel, values) or 1
                    deepest, cost = max(deepest, sub_depth), cost + 1 + many * sub_cost
                elif isinstance(sel, InlineFragmentNode):
                    sub_depth, sub_cost = self.measure(sel.selection_set, depth, seen)
                    deepest, cost = max(deepest, sub_depth), cost + sub_cost
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    fragment = ctx.get_fragment(name)
                    if fragment is None or name in seen:
                        continue
                    sub_depth, sub_cost = self.measure(fragment.selection_set, depth, seen | {name})
                    deepest, cost = max(deepest, sub_depth), cost + sub_cost
            return deepest, cost

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth, cost = self.measure(node.selection_set, 0, frozenset())
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"query is {depth} levels deep; the limit is {max_depth}",
                        node,
                        extensions={"code": str(ErrorCode.DEPTH_LIMIT), "depth": depth, "limit": max_depth},
                    )
                )
            elif cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query could return about {cost} nodes; the limit is {max_cost} "
                        "(ask for smaller pages with `first`)",
                        node,
                        extensions={"code": str(ErrorCode.COST_LIMIT), "cost": cost, "limit": max_cost},
                    )
                )

    return Limits
