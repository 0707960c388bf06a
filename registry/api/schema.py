"""The graphene schema, and executing one request against it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import graphene
from graphql import (
    DocumentNode,
    ExecutionResult,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
    validate,
)
from graphql.error import GraphQLError
from graphql.execution import execute
from graphql.utilities import get_operation_ast

from registry.api.context import RequestContext
from registry.api.errors import ErrorCode
from registry.api.guards import argument_uses, sizes_rule, sizes_within
from registry.api.limits import Limits
from registry.api.mutation import Mutation
from registry.api.pacing import Deadline
from registry.api.query import Query
from registry.api.validation import measure, refusal
from registry.api.visibility import check_schema

__all__ = ["Limits", "Prepared", "execute_prepared", "prepare", "run", "schema"]

schema = graphene.Schema(query=Query, mutation=Mutation)
check_schema(schema.graphql_schema)  # every text field declared with its visibility, or no server


def _error(message: str, code: ErrorCode, **details: Any) -> ExecutionResult:
    return ExecutionResult(None, [GraphQLError(message, extensions={"code": str(code), **details})])


@functools.lru_cache(maxsize=512)
def _parsed(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


@functools.lru_cache(maxsize=512)
def _validated(query: str, max_tokens: int) -> tuple[GraphQLError, ...]:
    """graphql-core's own validation of a query text (once: clients repeat the same queries)."""
    return tuple(validate(schema.graphql_schema, _parsed(query, max_tokens), specified_rules))


@functools.lru_cache(maxsize=512)
def _uses(query: str, max_tokens: int) -> Any:
    """The document's arguments as the size check needs them (once per query text)."""
    return argument_uses(_parsed(query, max_tokens))


@dataclass(frozen=True)
class Prepared:
    """A request that passed every limit: its document, operation and estimated cost."""

    document: DocumentNode
    operation: OperationDefinitionNode
    cost: int


def prepare(
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    read_only: bool = False,
    limits: Limits = Limits(),
    report_size: Callable[[], int] = lambda: 0,
) -> Prepared | ExecutionResult:
    """Parse, measure against the limits (before graphql-core's validation, which is quadratic
    in repeated aliases), then validate. A refusal is an ``ExecutionResult`` with coded errors."""
    if len(query) > limits.query:  # refused unread: parsing a long text is itself the work
        return _error(
            f"query text is {len(query)} characters; the limit is {limits.query} (send a smaller query)",
            ErrorCode.PAYLOAD_TOO_LARGE,
            limit=limits.query,
        )
    try:
        document = _parsed(query, limits.tokens)
    except GraphQLError as exc:
        if "tokens" in exc.message and "Parsing aborted" in exc.message:
            return _error(
                f"query text is over {limits.tokens} tokens; send a smaller query",
                ErrorCode.COST_LIMIT,
                limit=limits.tokens,
            )
        exc.extensions = {**(exc.extensions or {}), "code": str(ErrorCode.INVALID)}
        return ExecutionResult(None, [exc])
    except RecursionError:  # graphql-core's parser recurses: a query nested past Python's stack
        return _error("the query nests too deeply to be read", ErrorCode.DEPTH_LIMIT)
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return _error("no operation with that name, or several and no operationName", ErrorCode.INVALID)
    found = measure(schema.graphql_schema, document, operation, variables, report_size, limits.list_size)
    refused = refusal(found, limits, operation)
    if refused is not None:
        return ExecutionResult(None, [refused])
    errors = list(_validated(query, limits.tokens))
    if not errors and not sizes_within(_uses(query, limits.tokens), variables):
        # argument sizes depend on the variables: checked on every request, the quick way; the
        # rule that names the argument over its limit only runs when one is
        errors = validate(schema.graphql_schema, document, [sizes_rule(variables)])
    if errors:
        for e in errors:
            if not (e.extensions or {}).get("code"):
                e.extensions = {**(e.extensions or {}), "code": str(ErrorCode.INVALID)}
        return ExecutionResult(None, errors)
    if read_only and operation.operation != OperationType.QUERY:
        return _error("only queries may be sent with GET; use POST for mutations", ErrorCode.INVALID)
    return Prepared(document, operation, found.cost)


def execute_prepared(
    context: RequestContext,
    prepared: Prepared,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    limits: Limits = Limits(),
) -> ExecutionResult:
    """Execute within the time budget (then one TIME_LIMIT error and no data); audit denials."""
    deadline = Deadline(limits.time)
    result = execute(
        schema.graphql_schema,
        prepared.document,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        middleware=[deadline],
    )
    assert isinstance(result, ExecutionResult)
    if deadline.hit:
        result = _error(
            f"the request ran past its time budget of {limits.time:g} s and was stopped "
            "(ask for smaller pages, or fewer whole-registry reports per request)",
            ErrorCode.TIME_LIMIT,
            limit=limits.time,
        )
    context.flush_denials()
    return result


def run(
    context: RequestContext,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    read_only: bool = False,
    limits: Limits = Limits(),
) -> ExecutionResult:
    """Prepare and execute one request (no per-token pacing: that is the app's)."""
    prepared = prepare(query, variables, operation_name, read_only=read_only, limits=limits)
    if isinstance(prepared, ExecutionResult):
        return prepared
    return execute_prepared(context, prepared, variables, operation_name, limits=limits)
