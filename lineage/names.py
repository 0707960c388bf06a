"""Names as lineage compares them: tables as written (``catalog.db.name``), columns, schemas.

>>> from sqlglot import parse_one
>>> table_name(parse_one('select 1 from Sales."Orders"').find(exp.Table))
'sales.Orders'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp


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
