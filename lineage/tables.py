"""Which tables a SQL query reads, parsed with sqlglot (table level; column level comes later).

CTE names are not tables; a schema-qualified name keeps only the table part when the registry's
tables live in one schema.

>>> sorted(tables_read("with a as (select * from x) select * from a join main.y using (id)"))
['x', 'y']
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def tables_read(sql: str, dialect: str = "duckdb") -> set[str]:
    """Names (lower-cased unless quoted) of the tables a statement reads."""
    tree = sqlglot.parse_one(sql, read=dialect)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        name = table.name
        if not name or name in ctes:
            continue
        quoted = table.this.args.get("quoted") if isinstance(table.this, exp.Identifier) else False
        names.add(name if quoted else name.lower())
    return names
