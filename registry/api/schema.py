"""The graphene schema, and executing one request against it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import graphene
from graphql import ExecutionResult, OperationType, parse, specified_rules, validate
from graphql.error import GraphQLError
from graphql.execution import execute
from graphql.utilities import get_operation_ast

from registry.api.context import RequestContext
from registry.api.errors import ErrorCode
from registry.api.mutation import Mutation
from registry.api.query import Query
from registry.api.validation import MAX_COST, MAX_DEPTH, limits_rule

schema = graphene.Schema(query=Query, mutation=Mutation)


@dataclass(frozen=True)
class Limits:
    depth: int = MAX_DEPTH
    cost: int = MAX_COST


def _error(message: str, code: ErrorCode) -> ExecutionResult:
    return ExecutionResult(None, [GraphQLError(message, extensions={"code": str(code)})])


def run(
    context: RequestContext,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    read_only: bool = False,
    limits: Limits = Limits(),
) -> ExecutionResult:
    """Parse, validate (with the depth and cost limits) and execute one request; audit denials."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        exc.extensions = {**(exc.extensions or {}), "code": str(ErrorCode.INVALID)}
        return ExecutionResult(None, [exc])
    rules = [*specified_rules, limits_rule(limits.depth, limits.cost, variables)]
    errors = validate(schema.graphql_schema, document, rules)
    if errors:
        for e in errors:
            if not (e.extensions or {}).get("code"):
                e.extensions = {**(e.extensions or {}), "code": str(ErrorCode.INVALID)}
        return ExecutionResult(None, errors)
    operation = get_operation_ast(document, operation_name)
    if read_only and operation is not None and operation.operation != OperationType.QUERY:
        return _error("only queries may be sent with GET; use POST for mutations", ErrorCode.INVALID)
    result = execute(
        schema.graphql_schema,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
    )
    assert isinstance(result, ExecutionResult)
    context.flush_denials()
    return result
