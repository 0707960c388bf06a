"""The graphene schema, and executing one request against it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import graphene
from graphql import DocumentNode, ExecutionResult, OperationType, parse, specified_rules, validate
from graphql.error import GraphQLError
from graphql.execution import execute
from graphql.utilities import get_operation_ast

from registry.api.context import RequestContext
from registry.api.errors import ErrorCode
from registry.api.guards import sizes_rule
from registry.api.mutation import Mutation
from registry.api.query import Query
from registry.api.validation import MAX_COST, MAX_DEPTH, limits_rule
from registry.api.visibility import check_schema

schema = graphene.Schema(query=Query, mutation=Mutation)
check_schema(schema.graphql_schema)  # every text field declared with its visibility, or no server


@dataclass(frozen=True)
class Limits:
    depth: int = MAX_DEPTH
    cost: int = MAX_COST


def _error(message: str, code: ErrorCode) -> ExecutionResult:
    return ExecutionResult(None, [GraphQLError(message, extensions={"code": str(code)})])


@functools.lru_cache(maxsize=512)
def _checked(query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
    """Parse and validate a query text against the schema once; clients repeat the same queries."""
    document = parse(query)
    return document, tuple(validate(schema.graphql_schema, document, specified_rules))


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
        document, known = _checked(query)
    except GraphQLError as exc:
        exc.extensions = {**(exc.extensions or {}), "code": str(ErrorCode.INVALID)}
        return ExecutionResult(None, [exc])
    except RecursionError:  # graphql-core's parser recurses: a query nested past Python's stack
        return _error("the query nests too deeply to be read", ErrorCode.DEPTH_LIMIT)
    errors = list(known)
    if not errors:  # the limits depend on the variables (page sizes): checked on every request
        errors = validate(
            schema.graphql_schema,
            document,
            [limits_rule(limits.depth, limits.cost, variables), sizes_rule(variables)],
        )
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
