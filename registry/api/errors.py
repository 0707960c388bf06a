"""Typed API errors: every refusal is a GraphQL error whose ``extensions.code`` is one of these.

| code | meaning |
| --- | --- |
| ``UNAUTHENTICATED`` | no bearer token, or an unknown or revoked one (HTTP 401, audited) |
| ``FORBIDDEN`` | the token's department or role may not see or do this (audited) |
| ``NOT_FOUND`` | no entity with that code (audited) |
| ``INVALID`` | a well-formed request the rules refuse (bad cursor, not-shared element, ...) |
| ``DEPTH_LIMIT`` | the query nests deeper than the server allows (audited) |
| ``COST_LIMIT`` | the query could cause more work than the server allows (audited) |
| ``ALIAS_LIMIT`` | the query uses more aliases or field selections than the server allows (audited) |
| ``TIME_LIMIT`` | the request ran past its time budget and was stopped; no data is returned (audited) |
| ``TOO_MANY_REQUESTS`` | this token has its allowed requests (or heavy ones) in flight (HTTP 429, audited) |
| ``RATE_LIMIT`` | budget spent, or cooled down (``cooldown``); retry in ``retryAfter`` s (429; audited) |
| ``PAYLOAD_TOO_LARGE`` | the request body (HTTP 413) or its query text is over the size limit (audited) |
| ``INPUT_TOO_LONG`` | a string argument is over its length limit (``search(text:)`` 200, others 10,000) |
| ``HEADERS_TOO_LARGE`` | the request line and headers are over 64 KB (HTTP 431) |
| ``BUSY`` | a write waited its bounded time for the write lock; nothing written (HTTP 503, Retry-After) |
| ``INTERNAL`` | an unexpected failure: the message gives a ``requestId``, the details are in the server log |
| ``AUDIT_KEY`` | the store's audit log is signed and the server has no audit key (AUD001): nothing written |
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    DEPTH_LIMIT = "DEPTH_LIMIT"
    COST_LIMIT = "COST_LIMIT"
    ALIAS_LIMIT = "ALIAS_LIMIT"
    TIME_LIMIT = "TIME_LIMIT"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    RATE_LIMIT = "RATE_LIMIT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INPUT_TOO_LONG = "INPUT_TOO_LONG"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    BUSY = "BUSY"
    INTERNAL = "INTERNAL"
    AUDIT_KEY = "AUDIT_KEY"


class Refusal(StrEnum):
    """Why a mutation was refused for what it asks, when no governance rule (GOV…) says it:
    ``MutationError.code`` is one of these or a rule code (:data:`MUTATION_CODES`)."""

    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"


class ForbiddenReason(StrEnum):
    """``extensions.reason`` of a FORBIDDEN error, when the refusal has a name of its own."""

    SELF_APPROVAL = "SELF_APPROVAL"


def _mutation_codes() -> tuple[str, ...]:
    from registry.codes import RULES

    return (*(str(r) for r in Refusal), *sorted(RULES))


MUTATION_CODES: tuple[str, ...] = _mutation_codes()
"""Every value ``MutationError.code`` can take: a :class:`Refusal` or a governance rule code."""


class ApiError(Exception):
    """Raised by resolvers; graphql-core copies ``extensions`` into the error it reports."""

    def __init__(self, code: ErrorCode, message: str, **details: Any):
        super().__init__(message)
        self.code = code
        self.extensions: dict[str, Any] = {"code": str(code), **details}


def error_json(code: ErrorCode, message: str) -> dict[str, Any]:
    """A GraphQL response body holding one error (for refusals before execution)."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": str(code)}}]}
