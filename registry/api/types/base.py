"""What the GraphQL types share: rows, their parsed specs, the request's quality scores, and the
schema's types by name.

The types refer to each other (a department's agreements, an agreement's departments): the field
types use graphene's lazy lambdas, and a resolver that needs another module's type looks it up in
the schema by its GraphQL name (:func:`schema_type`) instead of importing that module, so no
module of ``types/`` imports one that imports it back.
"""

from __future__ import annotations

import json
from typing import Any

from registry.store.quality import Score, quality_scores

Row = dict[str, Any]


def spec(row: Row) -> dict[str, Any]:
    """The row's canonical spec, parsed once per row."""
    if "_spec" not in row:
        row["_spec"] = json.loads(row["spec"])
    parsed: dict[str, Any] = row["_spec"]
    return parsed


def scores(ctx: Any) -> dict[tuple[str, str], Score]:
    """(kind, subject) → score, computed once per request."""
    if not hasattr(ctx, "_scores"):
        computed = quality_scores(ctx.store)
        ctx._scores = {(s.kind, s.subject): s for group in computed.values() for s in group}
    result: dict[tuple[str, str], Score] = ctx._scores
    return result


def schema_type(info: Any, name: str) -> Any:
    """The graphene class of the schema's type ``name`` (a connection, to page a child list into)."""
    return info.schema.get_type(name).graphene_type
