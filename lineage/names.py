"""Names as lineage compares them: tables as written (``catalog.db.name``), columns, schemas.

>>> from sqlglot import parse_one
>>> table_name(parse_one('select 1 from Sales."Orders"').find(exp.Table))
'sales.Orders'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from sqlglot import exp
from sqlglot.schema import MappingSchema, normalize_name


def table_name(table: exp.Table) -> str:
    """``catalog.db.name`` as written: unquoted parts lower-cased, quoted ones kept."""
    parts = []
    for key in ("catalog", "db", "this"):
        part = table.args.get(key)
        if isinstance(part, exp.Identifier):
            name = part.name if part.quoted else part.name.lower()
            parts.append(f"#{name}" if part.args.get("temporary") and not name.startswith("#") else name)
        elif isinstance(part, exp.Expr) and part.name:
            parts.append(part.name.lower())
    return ".".join(parts)


def column_name(identifier: exp.Expr | str) -> str:
    """A column's name: unquoted lower-cased, quoted kept."""
    if isinstance(identifier, exp.Identifier):
        return identifier.name if identifier.quoted else identifier.name.lower()
    return str(identifier.name if isinstance(identifier, exp.Expr) else identifier).lower()


def sqlglot_schema(schema: Mapping[str, Sequence[str]]) -> dict[str, object]:
    """``{"db.table": [cols]}`` → sqlglot's nested ``{"db": {"table": {col: type}}}``, names equally deep."""
    nested: dict[str, object] = {}
    depth = max((len(k.split(".")) for k in schema), default=1)
    for name, columns in schema.items():
        parts = name.split(".")
        parts = [""] * (depth - len(parts)) + parts if len(parts) < depth else parts
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[parts[-1]] = {c: "TEXT" for c in columns}
    return nested


@lru_cache(maxsize=1 << 16)
def normalized(name: str, dialect: str, is_table: bool) -> str:
    """``name`` as sqlglot's dialect normalizes an identifier (DuckDB lower-cases, Snowflake upper-cases).

    Cached: a registry's few thousand names are normalized once, not again for every view.
    """
    return normalize_name(name, dialect=dialect, is_table=is_table).name


def mapping_schema(schema: Mapping[str, Sequence[str]], dialect: str) -> MappingSchema | None:
    """The tables of ``schema`` as sqlglot's schema, already normalized for ``dialect``.

    qualify would normalize every name of a plain mapping again on each call; handing it a schema
    whose names are normalized once (and cached) keeps that out of every statement's cost.
    """
    if not schema:
        return None
    nested = sqlglot_schema(
        {
            ".".join(normalized(part, dialect, True) for part in key.split(".")): [
                normalized(column, dialect, False) for column in columns
            ]
            for key, columns in schema.items()
        }
    )
    return MappingSchema(nested, dialect=dialect, normalize=False)
