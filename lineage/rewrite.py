"""Statements rewritten as the queries lineage traces, and what a statement reads by syntax alone.

``MERGE``, ``UPDATE`` and ``INSERT ... VALUES ((SELECT ...))`` are traced as a ``SELECT`` of the
values they write; a ``WITH`` written before the statement (``WITH x AS (...) INSERT ...``, as
Hive and Spark write it, or before ``UPDATE``/``DELETE``/``MERGE``) is moved onto that query, so a
CTE is resolved as a CTE wherever it is placed. Unaliased expressions are named by their text.

:func:`tables_read` is the fail-closed floor: the tables a statement reads, from its syntax
alone (CTE names never count, the written table only when it is read as rows elsewhere), so table
lineage survives whatever column tracing cannot do.

>>> from sqlglot import parse_one
>>> statement = parse_one("WITH x AS (SELECT a FROM s) INSERT INTO t SELECT a FROM x", read="hive")
>>> sorted(tables_read(statement, written={"t"}))
['s']
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from lineage.names import column_name, table_name

DATA_KINDS = ("TABLE", "VIEW")
"""What a ``CREATE`` writes rows into; a function, procedure, index or schema moves no data."""


def hoist_with(statement: exp.Expr) -> exp.With | None:
    """Take the ``WITH`` written before a DML statement off it (the caller puts it on the query)."""
    with_ = statement.args.get("with_")
    if isinstance(with_, exp.With) and not isinstance(statement, exp.Query):
        statement.set("with_", None)
        return with_
    return None


def with_ctes(query: exp.Expr, with_: exp.With | None) -> exp.Expr:
    """``query`` with the CTEs of ``with_`` before its own (a query keeps its own CTEs too)."""
    if with_ is None or not isinstance(query, exp.Query):
        return query
    own = query.args.get("with_")
    ctes = [cte.copy() for cte in with_.expressions] + (
        list(own.expressions) if isinstance(own, exp.With) else []
    )
    recursive = bool(with_.args.get("recursive") or (isinstance(own, exp.With) and own.args.get("recursive")))
    target = query.this if isinstance(query, exp.Subquery) else query
    target.set("with_", exp.With(expressions=ctes, recursive=recursive))
    return query


def cte_names(node: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in node.find_all(exp.CTE)}


def _in_query(node: exp.Expr, top: exp.Expr) -> bool:
    """Whether ``node`` sits in a query (subquery, CTE, derived table) below ``top``."""
    parent = node.parent
    while parent is not None and parent is not top:
        if isinstance(parent, exp.Query):
            return True
        parent = parent.parent
    return False


def tables_read(
    statement: exp.Expr,
    written: Iterable[str] = (),
    skip: Iterable[exp.Expr] = (),
) -> set[str]:
    """Every table ``statement`` reads rows of, by its syntax: CTE names are not tables; a table
    it writes counts only when it is read in a query of its own (a subquery, ``USING (SELECT
    ...)``), not for being named in ``SET``, ``ON``, ``WHEN`` or ``WHERE``; ``skip`` are nodes that
    are the written table itself (its ``FROM`` item in T-SQL's ``UPDATE alias ... FROM``)."""
    ctes = cte_names(statement)
    writes = {w.lower() for w in written}
    skipped = {id(node) for node in skip}
    out: set[str] = set()
    for table in statement.find_all(exp.Table):
        if id(table) in skipped or not isinstance(table.this, exp.Identifier):
            continue
        name = table_name(table)
        if not name or (not table.db and name.lower() in ctes):
            continue
        if name.lower() in writes and not _in_query(table, statement):
            continue
        if isinstance(table.parent, (exp.Into, exp.Schema)):
            continue  # SELECT ... INTO x, the table a CREATE names: written, not read
        if table.parent is statement and table.arg_key in ("this", "tables"):
            continue  # what INSERT, UPDATE, MERGE, DELETE and CREATE write
        out.add(name)
    return out


def written_table(statement: exp.Expr) -> str | None:
    """The table a DML or DDL statement writes, by syntax (None for what writes no table)."""
    node = (
        statement.this
        if isinstance(statement, (exp.Create, exp.Insert, exp.Update, exp.Merge, exp.Delete))
        else None
    )
    if isinstance(statement, exp.Create) and str(statement.args.get("kind") or "").upper() not in DATA_KINDS:
        return None
    if isinstance(node, exp.Schema):
        node = node.this
    return table_name(node) if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) else None


def _insert_branch(insert: exp.Insert, target_columns: list[str] | None) -> tuple[list[str], list[exp.Expr]]:
    """The columns and values of a MERGE's ``INSERT [(cols)] VALUES (...)``; without a column list
    the values go to the target's columns by position (when the schema knows them)."""
    columns = insert.this.expressions if isinstance(insert.this, exp.Tuple) else []
    values = insert.expression.expressions if isinstance(insert.expression, exp.Tuple) else []
    if len(columns) == 1 and isinstance(columns[0], exp.Anonymous) and columns[0].name.upper() == "VALUES":
        columns, values = [], list(columns[0].expressions)  # INSERT VALUES (...) as sqlglot reads Redshift's
    if columns:
        names = [column_name(c.this if isinstance(c, exp.Column) else c) for c in columns]
    else:
        names = list(target_columns or [])
    return names[: len(values)], values[: len(names)]


def merge_query(
    merge: exp.Merge,
    target_columns: list[str] | None = None,
    source_columns: list[str] | None = None,
) -> tuple[exp.Select, list[str], dict[str, list[str]]]:
    """MERGE as a SELECT of the values it writes, over target JOIN source ON the condition.

    Each ``WHEN ... AND <condition>`` becomes a projection ``__w<n>`` after the written ones,
    named in the returned shaping map with the target columns its branch writes. ``UPDATE SET *``
    and ``INSERT *`` (Databricks, Spark) write each column of the source to the target's column of
    that name; ``INSERT VALUES (...)`` without a column list writes the target's columns in order.
    """
    target = merge.this
    using = merge.args.get("using")
    alias = using.alias_or_name if isinstance(using, exp.Expr) else ""
    every = source_columns or target_columns or []
    selects: list[exp.Expr] = []
    names: list[str] = []
    conditions: list[tuple[exp.Expr, list[str]]] = []
    for when in merge.args.get("whens", exp.Whens()).expressions:
        before = len(names)
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            if len(then.expressions) == 1 and isinstance(then.expressions[0], exp.Star):
                for column in every:  # UPDATE SET *: every source column, by name
                    names.append(column)
                    selects.append(exp.column(column, table=alias))
            else:
                for eq in then.expressions:
                    names.append(column_name(eq.this.this if isinstance(eq.this, exp.Column) else eq.this))
                    selects.append(eq.expression.copy())
        elif isinstance(then, exp.Insert):
            if isinstance(then.this, exp.Star):  # INSERT *
                names += every
                selects += [exp.column(column, table=alias) for column in every]
            else:
                written, values = _insert_branch(then, target_columns)
                names += written
                selects += [value.copy() for value in values]
        condition = when.args.get("condition")
        if condition is not None and len(names) > before:
            conditions.append((condition, names[before:]))
    shaping = {f"__w{i}": written for i, (_, written) in enumerate(conditions)}
    select = exp.select(
        *(exp.alias_(s, f"__c{i}") for i, s in enumerate(selects)),
        *(exp.alias_(c.copy(), f"__w{i}") for i, (c, _) in enumerate(conditions)),
    ).from_(target.copy())
    select = select.join(using.copy(), on=merge.args.get("on").copy())  # type: ignore[union-attr]
    return select, names, shaping


def _without_joins(table: exp.Expr) -> tuple[exp.Expr, list[exp.Join]]:
    """A copy of an UPDATE's table and the joins sqlglot hangs on it (``UPDATE a JOIN b ...``)."""
    bare = table.copy()
    joins = [j for j in bare.args.get("joins") or [] if isinstance(j, exp.Join)]
    bare.set("joins", None)
    return bare, joins


def update_query(update: exp.Update) -> tuple[exp.Select, list[str], str | None, exp.Expr | None]:
    """UPDATE as a SELECT of the values it sets, over its tables; with the table it writes and,
    in T-SQL's ``UPDATE o SET ... FROM orders o JOIN ...``, the FROM item that is that table.

    ``UPDATE t SET ... FROM s`` reads t joined with s; MySQL's ``UPDATE t JOIN s ON ...`` keeps
    its join.
    """
    names = [
        column_name(eq.this.this if isinstance(eq.this, exp.Column) else eq.this) for eq in update.expressions
    ]
    target, joins = _without_joins(update.this)
    written = table_name(update.this) if isinstance(update.this, exp.Table) else None
    item: exp.Expr | None = None
    source = update.args.get("from_") or update.args.get("from")
    if source is not None:
        first, more = _without_joins(source.this)
        originals = [source.this, *(j.this for j in source.this.args.get("joins") or [])]
        tables = [first, *(j.this for j in more)]
        aliased = next(
            (
                position
                for position, t in enumerate(tables)
                if isinstance(t, exp.Table)
                and isinstance(target, exp.Table)
                and not target.db
                and t.alias
                and t.alias == target.name
            ),
            None,
        )
        if aliased is not None:
            target, joins, written = first, more, table_name(tables[aliased])
            item = originals[aliased]
        else:
            joins = [*joins, exp.Join(this=first), *more]
    select = exp.select(
        *(exp.alias_(eq.expression.copy(), f"__c{i}") for i, eq in enumerate(update.expressions))
    ).from_(target)
    select.set("joins", joins or None)
    where = update.args.get("where")
    if where is not None:
        select = select.where(where.this.copy())
    return select, names, written, item


def values_query(values: exp.Values, names: list[str] | None, dialect: str) -> exp.Query | None:
    """``VALUES ((SELECT ...), 1)`` as ``SELECT (SELECT ...) AS c1, 1 AS c2`` (a UNION ALL per row),
    when some value is a subquery; None when the values are only literals (no data flows)."""
    if not any(values.find_all(exp.Select)):
        return None
    rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in values.expressions]
    selects = []
    for row in rows:
        projections = []
        for position, value in enumerate(row):
            name = names[position] if names and position < len(names) else expression_name(value, dialect)
            projections.append(exp.alias_(value.copy(), exp.to_identifier(name, quoted=True)))
        selects.append(exp.select(*projections))
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def expression_name(node: exp.Expr, dialect: str) -> str:
    """An unaliased output's name: its text, lower-cased (``max(col1)``, ``col1 + col2``)."""
    return " ".join(node.sql(dialect=dialect, comments=False).lower().split())


def name_unaliased(query: exp.Expr, dialect: str) -> None:
    """Alias each unaliased expression of the query's first SELECT by its text, in place (a column
    keeps its own name; a star stays a star)."""
    first = query.this if isinstance(query, exp.Subquery) else query
    while isinstance(first, exp.SetOperation):
        first = first.this
        first = first.this if isinstance(first, exp.Subquery) else first
    if not isinstance(first, exp.Select):
        return
    if all(isinstance(p, (exp.Alias, exp.Column, exp.Star)) for p in first.expressions):
        return
    first.set(
        "expressions",
        [
            p
            if isinstance(p, (exp.Alias, exp.Column, exp.Star))
            else exp.alias_(p, exp.to_identifier(expression_name(p, dialect), quoted=True), copy=False)
            for p in first.expressions
        ],
    )
