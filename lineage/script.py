"""A script's state and its statements: the tables known so far (temporary ones carried
through to what reads them), and the lineage of one statement of each kind (query, INSERT,
MERGE, UPDATE, DELETE, CREATE … AS, DDL that moves data).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope
from sqlglot.schema import MappingSchema

from lineage.ddl import Move, moves, mutation
from lineage.models import ColumnEdge, ColumnRef, StatementLineage, edge_order
from lineage.names import column_name, mapping_schema, table_name
from lineage.rewrite import (
    DATA_KINDS,
    hoist_with,
    merge_query,
    name_unaliased,
    tables_read,
    update_query,
    values_query,
    with_ctes,
    written_table,
)
from lineage.scope import first_scope, output_name, outside_reader, projections_of, query_columns, scope_of
from lineage.trace import Traced, Tracer, merge_traced, stronger


class KnownTables(dict[str, list[str]]):
    """Table → its columns, lower-cased. A registry hands over thousands of tables and a statement
    reads a few: a table's columns are lower-cased when it is first read, not all on every call."""

    def __init__(self, schema: Mapping[str, Sequence[str]] | None) -> None:
        super().__init__()
        self._raw = {k.lower(): v for k, v in (schema or {}).items()}

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._raw

    def __missing__(self, key: str) -> list[str]:
        columns = [c.lower() for c in self._raw.pop(key)]  # KeyError when not known at all
        dict.__setitem__(self, key, columns)
        return columns

    def __setitem__(self, key: str, value: list[str]) -> None:
        self._raw.pop(key, None)
        dict.__setitem__(self, key, value)

    def get(self, key: str, default: list[str] | None = None) -> list[str] | None:  # type: ignore[override]
        if key in self:
            return self[key]
        return default

    def __iter__(self) -> Iterator[str]:
        yield from dict.keys(self)
        yield from list(self._raw)


@dataclass
class Script:
    """State carried from statement to statement: known schema and temporary tables."""

    dialect: str
    schema: KnownTables
    default_target: str | None
    temp: dict[str, dict[str, Traced]] = field(default_factory=dict)
    temp_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    temp_indirect: dict[str, set[ColumnRef]] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)  # last name part → schema keys
    transient: set[int] = field(default_factory=set)  # CREATE TABLE statements dropped later in the script
    in_block: bool = False  # the statement being traced sits in a procedure or block
    variables: frozenset[str] = frozenset()  # what the procedure or block declared before it

    @property
    def bare_target(self) -> str | None:
        """What a bare query writes: the registry's view, but not from inside a procedure."""
        return None if self.in_block else self.default_target

    def is_temp(self, create: exp.Create, name: str) -> bool:
        """A temporary table, or one the script creates and drops again: an intermediate result."""
        return _is_temp(create, name) or id(create) in self.transient

    def into_variables(self, into: exp.Into) -> bool:
        """Whether ``SELECT ... INTO`` names variables (in a block, except T-SQL's tables; ``@v``)."""
        if isinstance(into.this, exp.Table) and isinstance(into.this.this, exp.Parameter):
            return True
        return self.in_block and self.dialect != "tsql" and not into.args.get("temporary")

    def relevant(self, query: exp.Expr) -> dict[str, list[str]]:
        """The known tables a statement may name, matched on their last name part.

        qualify normalizes every table of the schema it is given; a registry knows thousands, a
        statement reads a few, so only those (and same-named tables of other schemas) go in.
        """
        if not self.by_name:
            for key in self.schema:
                self.by_name.setdefault(key.rpartition(".")[2].lower(), set()).add(key)
        out: dict[str, list[str]] = {}
        for table in query.find_all(exp.Table):
            written = table_name(table)
            if written in self.schema:  # named as the schema names it: no same-named other to confuse
                out[written] = self.schema[written]
                continue
            for key in self.by_name.get(table.name.lower(), ()):
                out[key] = self.schema[key]
        return out

    def define(self, table: str, columns: Sequence[str]) -> None:
        """A table the script creates or names: later statements resolve against it."""
        self.schema[table] = list(columns)
        if self.by_name:
            self.by_name.setdefault(table.rpartition(".")[2].lower(), set()).add(table)

    def qualify(self, query: exp.Expr, schema: MappingSchema | None, columns: bool) -> exp.Expr:
        return qualify(
            query,
            dialect=self.dialect,
            schema=schema,
            qualify_columns=columns,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )

    def trace_query(
        self,
        query: exp.Expr,
        target: str | None,
        columns: Sequence[str] | None,
        kind: str,
        index: int,
        sql: str,
        shaping: Mapping[str, Sequence[str]] | None = None,
    ) -> StatementLineage:
        """Lineage of one query writing ``target`` (its ``columns``, else the query's names).

        ``shaping`` names extra projections that are not written but decide which rows some
        target columns get (a MERGE's ``WHEN MATCHED AND <cond>``): their columns become
        indirect edges of just those target columns.
        """
        shaping = shaping or {}
        while isinstance(query, exp.Subquery) and not any(v for k, v in query.args.items() if k != "this"):
            query = query.this  # CREATE TABLE a AS (SELECT ...): the query in the parentheses
        name_unaliased(query, self.dialect)  # max(col1) is "max(col1)", not _col_0
        schema = mapping_schema(self.relevant(query), self.dialect)
        unplaced: list[str] = []
        try:  # in place: every caller hands over a tree it no longer needs
            qualified = self.qualify(query, schema, columns=True)
        except OptimizeError as exc:
            # an unqualified column sqlglot will not place without a schema (in a correlated
            # subquery, or that may be an alias): trace with the columns as written instead
            unplaced.append(str(exc).split("\n")[0])
            qualified = self.qualify(query, schema, columns=False)
        root = build_scope(qualified)
        if root is None:
            return StatementLineage(index, sql, status="failed", reason="not a query", kind=kind)
        tracer = Tracer(self.temp, self.temp_sources, self.schema, variables=self.variables)
        scopes = list(root.traverse())
        for scope in scopes:
            tracer.scopes.setdefault(id(scope.expression), scope)
        first = first_scope(root)
        outputs = [s.alias_or_name for s in projections_of(first)]
        labels = [output_name(s) for s in projections_of(first)]  # unquoted names lower-cased, as compared
        names = list(columns) if columns else labels
        # the target column each output writes: the target's own name, else the output's
        written = [names[i] if i < len(names) else label for i, label in enumerate(labels)]
        edges: set[ColumnEdge] = set()
        traced_by_target: dict[str, Traced] = {}
        own_indirect: dict[str, set[ColumnRef]] = {}  # target column → what shapes it alone
        incomplete: list[str] = []  # target columns some of whose sources are unknown
        for position, (output, name) in enumerate(zip(outputs, written, strict=True)):
            traced = tracer.output(root, output)
            shapes = set(tracer.shape_of(root, output))
            if outputs.count(output) > 1 and root is first and position != outputs.index(output):
                # a name given twice (DuckDB renames the second): trace this projection itself
                traced = dict(traced)
                tracer.shaping.append(set())
                merge_traced(traced, tracer.expression(root, projections_of(root)[position]))
                shapes = tracer.shaping.pop()
            if shapes and name not in shaping:
                own_indirect.setdefault(name, set()).update(shapes)
            if name in shaping:
                for shaped in shaping[name]:
                    own_indirect.setdefault(shaped, set()).update(traced)
                continue
            if name == "*" or tracer.is_incomplete(root, output):
                incomplete.append(name)
            if name == "*":  # a star over an unknown table: no column to point at
                continue
            traced_by_target[name] = traced
            if target:
                for ref, edge_kind in traced.items():
                    edges.add(ColumnEdge(ref, ColumnRef(target, name), edge_kind))  # type: ignore[arg-type]
        # a subquery in a projection (a correlated scalar subquery) filters only that output's value
        claimed: set[int] = set()
        for projection, name in zip(projections_of(first), written, strict=True):
            for subquery in projection.find_all(exp.Select):
                child = scope_of(first, subquery)
                for scope in child.traverse() if child is not None else ():
                    own_indirect.setdefault(name, set()).update(tracer.indirect(scope))
                    claimed.add(id(scope))
        indirect: set[ColumnRef] = set(tracer.extra_indirect)
        for scope in scopes:
            if id(scope) not in claimed:
                indirect |= tracer.indirect(scope)
            for source in scope.sources.values():
                if isinstance(source, exp.Table):
                    name = table_name(source)
                    if name in self.temp:
                        tracer.sources.update(self.temp_sources.get(name, ()))
                        indirect |= self.temp_indirect.get(name, set())
                    elif name:
                        tracer.sources.add(name)
                    label = outside_reader(source) if not isinstance(source.this, exp.Identifier) else None
                    if label:
                        tracer.sources.add(label)
        indirect |= tracer.extra_indirect
        ctes: set[str] = set()
        tables: list[exp.Table] = []
        stars: list[exp.Star] = []
        for node in qualified.walk():  # one walk for the CTE names, tables and stars of the whole query
            if isinstance(node, exp.Table):
                tables.append(node)
            elif isinstance(node, exp.CTE):
                ctes.add(node.alias_or_name)
            elif isinstance(node, exp.Star) and (
                isinstance(node.parent, exp.Select)
                or (isinstance(node.parent, exp.Column) and isinstance(node.parent.parent, exp.Select))
            ):
                stars.append(node)
        for table in tables:  # read where no scope reaches (PIVOT, UNPIVOT)
            name = table_name(table)
            if name in self.schema and name not in ctes and name not in self.temp:
                tracer.sources.add(name)
        if target:
            for ref in indirect:
                for name in traced_by_target:
                    edges.add(ColumnEdge(ref, ColumnRef(target, name), "indirect"))
            for name, refs in own_indirect.items():
                for ref in refs:
                    edges.add(ColumnEdge(ref, ColumnRef(target, name), "indirect"))
        partial = bool(tracer.unresolved) or bool(stars) or bool(unplaced)
        reason = None
        if stars:
            reason = "SELECT * over a table whose columns are unknown (give a schema)"
        elif tracer.unresolved:
            reason = "unresolved: " + ", ".join(sorted(tracer.unresolved)[:5])
        elif unplaced:
            reason = unplaced[0]
        if target:
            self.define(target, names)
        lineage = StatementLineage(
            index,
            sql,
            tuple(sorted(tracer.sources)),
            (target,) if target else (),
            tuple(sorted(edges, key=edge_order)),
            "partial" if partial else "ok",
            reason,
            kind=kind,
            outputs=tuple(names[: len(outputs)]) if target else tuple(labels),
            unresolved=tuple(dict.fromkeys(incomplete)),
        )
        return lineage

    def remember_temp(self, target: str, lineage: StatementLineage, add: bool = False) -> None:
        """Carry a temporary table as what ``lineage`` filled it with (``add``: on top of before)."""
        table: dict[str, Traced] = {k: dict(v) for k, v in self.temp.get(target, {}).items()} if add else {}
        for edge in lineage.columns:
            if edge.kind == "indirect":
                continue
            traced = table.setdefault(edge.target.column, {})
            traced[edge.source] = stronger(traced.get(edge.source), edge.kind)
        indirect = {e.source for e in lineage.columns if e.kind == "indirect"}
        self.temp[target] = table
        self.temp_sources[target] = tuple(
            sorted({*lineage.sources, *(self.temp_sources.get(target, ()) if add else ())})
        )
        self.temp_indirect[target] = indirect | (self.temp_indirect.get(target, set()) if add else set())


def target_of(node: exp.Expr) -> tuple[str | None, list[str] | None]:
    """(table, explicit column list) of an INSERT/CREATE target."""
    if isinstance(node, exp.Schema):
        table = node.this
        columns = [
            column_name(c if isinstance(c, exp.Identifier) else c.this)
            for c in node.expressions
            if isinstance(c, (exp.Identifier, exp.ColumnDef, exp.Column))
        ]
        return (table_name(table) if isinstance(table, exp.Table) else None), columns or None
    if isinstance(node, exp.Table):
        return table_name(node), None
    return None, None


def _is_temp(create: exp.Create, name: str) -> bool:
    props = create.args.get("properties")
    temporary = bool(props and (props.find(exp.TemporaryProperty) or props.find(exp.VolatileProperty)))
    return temporary or name.startswith("#")


def create_kind(create: exp.Create) -> str:
    return str(create.args.get("kind") or "").upper()


def _without(lineage: StatementLineage, table: str) -> StatementLineage:
    """``lineage`` with ``table`` (the one it writes) no longer listed as read."""
    return replace(lineage, sources=tuple(s for s in lineage.sources if s != table))


def _written_also_read(statement: exp.Expr, target: str | None, skip: Sequence[exp.Expr] = ()) -> bool:
    """Whether the table a DML statement writes is also read as rows: in a subquery, or as another
    FROM item (``UPDATE t SET ... FROM t AS parent``), not for being named in SET, ON or WHERE."""
    if not target:
        return False
    if target in tables_read(statement, written={target}, skip=skip):
        return True
    skipped = {id(node) for node in skip}
    for table in statement.find_all(exp.Table):
        if id(table) in skipped or table_name(table) != target:
            continue
        if table.parent is statement and table.arg_key in ("this", "tables"):
            continue
        if isinstance(table.parent, (exp.From, exp.Join)):
            return True
    return False


def _moves(script: Script, moves: Sequence[Move], index: int, sql: str, kind: str) -> StatementLineage:
    """Lineage of DDL moving rows or structure (rename, swap, clone, like, partition exchange)."""
    before = {m.source: list(script.schema.get(m.source) or []) for m in moves}
    edges: set[ColumnEdge] = set()
    unknown: list[str] = []
    for move in moves:
        columns = before[move.source]
        if move.rows:
            if not columns and move.source not in script.temp:
                unknown.append(move.source)
            for column in columns:
                edges.add(
                    ColumnEdge(ColumnRef(move.source, column), ColumnRef(move.target, column), "direct")
                )
        if columns:
            script.define(move.target, columns)
    sources = sorted({m.source for m in moves})
    targets = sorted({m.target for m in moves})
    return StatementLineage(
        index,
        sql,
        tuple(sources),
        tuple(targets),
        tuple(sorted(edges, key=edge_order)),
        "partial" if unknown else "ok",
        f"the columns of {', '.join(sorted(set(unknown)))} are not known (give a schema)"
        if unknown
        else None,
        kind=kind,
        unresolved=tuple(unknown),
    )


def _sources_through_temp(script: Script, names: Iterable[str]) -> tuple[str, ...]:
    out: set[str] = set()
    for name in names:
        if name in script.temp:
            out.update(script.temp_sources.get(name, ()))
        else:
            out.add(name)
    return tuple(sorted(out))


def _delete(
    script: Script, statement: exp.Delete, with_: exp.With | None, index: int, sql: str
) -> StatementLineage:
    """DELETE writes its table (no column is written) and reads what its subqueries and USING read."""
    target = table_name(statement.this) if isinstance(statement.this, exp.Table) else None
    named = [t for t in statement.args.get("tables") or [] if isinstance(t, exp.Table)]
    if named and isinstance(statement.this, exp.Table):  # DELETE o FROM orders o JOIN ...
        items = [statement.this, *(j.this for j in statement.this.args.get("joins") or [])]
        alias = table_name(named[0])
        written = next(
            (t for t in items if isinstance(t, exp.Table) and (t.alias or "").lower() == alias), None
        )
        target = table_name(written) if written is not None else alias
    if with_ is not None:
        statement.set("with_", with_)
    read = tables_read(statement, written={target} if target else ())
    return StatementLineage(
        index, sql, _sources_through_temp(script, read), (target,) if target else (), kind="delete"
    )


def syntax_only(
    script: Script, statement: exp.Expr, index: int, sql: str, exc: Exception
) -> StatementLineage:
    """Fail closed on the columns, never on the tables: what the syntax says is read and written."""
    target = written_table(statement)
    if isinstance(statement, exp.Select) and isinstance(statement.args.get("into"), exp.Into):
        into = statement.args["into"].this
        target = table_name(into) if isinstance(into, exp.Table) else None
    if target is None and isinstance(statement, exp.Query) and not script.in_block:
        target = script.default_target
    read = tables_read(statement, written={target} if target else ())
    if isinstance(statement, (exp.Update, exp.Merge)) and target and _written_also_read(statement, target):
        read.add(target)
    return StatementLineage(
        index,
        sql,
        _sources_through_temp(script, read),
        (target,) if target else (),
        status="partial",
        reason=f"columns not traced ({failure(exc)[0]}); tables from the syntax",
        kind=statement.key,
        unresolved=("*",) if target else (),
    )


def statement_lineage(script: Script, statement: exp.Expr, index: int, sql: str) -> StatementLineage:
    with_ = hoist_with(statement)
    if isinstance(statement, exp.Command):
        rewritten = mutation(sql)
        if rewritten is not None:
            return statement_lineage(script, sqlglot.parse_one(rewritten, read=script.dialect), index, sql)
    if isinstance(statement, exp.Alter) and isinstance(statement.this, exp.Table):
        deletes = [a for a in statement.args.get("actions") or [] if isinstance(a, exp.Delete)]
        if deletes:  # ClickHouse's ALTER TABLE t DELETE WHERE ...: a DELETE
            delete = exp.Delete(this=statement.this.copy(), where=deletes[0].args.get("where"))
            return _delete(script, delete, with_, index, sql)
    ddl = moves(statement, sql, script.dialect)
    if ddl:
        for move in ddl:
            if move.source in script.temp:
                script.temp[move.target] = script.temp[move.source]
                script.temp_sources[move.target] = script.temp_sources.get(move.source, ())
        return _moves(script, ddl, index, sql, statement.key)
    if isinstance(statement, exp.Create):
        target, columns = target_of(statement.this)
        query = with_ctes(statement.expression, with_) if statement.expression is not None else None
        kind = f"create {create_kind(statement).lower()}".strip()
        if create_kind(statement) not in DATA_KINDS:
            return StatementLineage(index, sql, kind=kind, reason="no data flow")
        if target and columns and query is None:
            script.define(target, columns)
        if query is None or not isinstance(query, exp.Query):
            if target and query is None and script.is_temp(statement, target):  # filled later, by INSERT
                script.remember_temp(target, StatementLineage(index, sql))
            return StatementLineage(index, sql, kind=kind, reason="no data flow")
        lineage = script.trace_query(query, target, columns, kind, index, sql)
        if target and script.is_temp(statement, target):
            script.remember_temp(target, lineage)
        return lineage
    if isinstance(statement, exp.Insert):
        target, columns = target_of(statement.this)
        if columns is None and target and target in script.schema:
            columns = script.schema[target]
        query = statement.expression
        if isinstance(query, exp.Values):
            query = values_query(query, columns, script.dialect)
        if not isinstance(query, exp.Query):
            return StatementLineage(
                index, sql, targets=(target,) if target else (), kind="insert", reason="no query (VALUES)"
            )
        lineage = script.trace_query(with_ctes(query, with_), target, columns, "insert", index, sql)
        if target in script.temp:
            script.remember_temp(target, lineage, add=True)
        return lineage
    if isinstance(statement, exp.Merge):
        target = table_name(statement.this) if isinstance(statement.this, exp.Table) else None
        using = statement.args.get("using")
        source = table_name(using) if isinstance(using, exp.Table) else None
        query, names, shaping = merge_query(
            statement,
            script.schema[target] if target and target in script.schema else None,
            query_columns(using) if isinstance(using, exp.Subquery) else script.schema.get(source or ""),
        )
        lineage = script.trace_query(with_ctes(query, with_), target, names, "merge", index, sql, shaping)
        return lineage if _written_also_read(statement, target) else _without(lineage, target or "")
    if isinstance(statement, exp.Update):
        query, names, target, item = update_query(statement)
        skip = [item] if item is not None else []
        lineage = script.trace_query(with_ctes(query, with_), target, names, "update", index, sql)
        return lineage if _written_also_read(statement, target, skip) else _without(lineage, target or "")
    if isinstance(statement, exp.Delete):
        return _delete(script, statement, with_, index, sql)
    if isinstance(statement, exp.Drop):
        dropped = [*(statement.args.get("tables") or []), statement.this]
        for table in dropped:
            if isinstance(table, exp.Table):
                script.temp.pop(table_name(table), None)
                script.temp_sources.pop(table_name(table), None)
                script.temp_indirect.pop(table_name(table), None)
        return StatementLineage(index, sql, kind="drop", reason="no data flow")
    if isinstance(statement, exp.Pivot) and isinstance(statement.this, exp.Table):
        # DuckDB's PIVOT t ... / UNPIVOT t ... statement: a query of every column of the result
        query = exp.select("*").from_(exp.Subquery(this=statement))
        lineage = script.trace_query(query, script.bare_target, None, statement.key, index, sql)
        what = "UNPIVOT" if statement.args.get("unpivot") else "PIVOT"
        return replace(lineage, reason=f"{what}: its output columns are not known, read as all it reads")
    if isinstance(statement, exp.Query):
        into = statement.args.get("into") if isinstance(statement, exp.Select) else None
        if into is not None:
            statement.set("into", None)
            if script.into_variables(into):  # PL/SQL, MySQL, BigQuery: SELECT ... INTO a variable
                return script.trace_query(statement, None, None, "select", index, sql)
            target = table_name(into.this)
            lineage = script.trace_query(statement, target, None, "select into", index, sql)
            if into.args.get("temporary") or target.startswith("#"):
                script.remember_temp(target, lineage)
            return lineage
        return script.trace_query(statement, script.bare_target, None, "select", index, sql)
    return StatementLineage(index, sql, kind=statement.key, reason="no data flow")


def failure(exc: Exception) -> tuple[str, int | None, int | None]:
    """(reason, line, column) of a parse error, one line long."""
    if isinstance(exc, ParseError) and exc.errors:
        error = exc.errors[0]
        return str(error.get("description") or exc).split("\n")[0], error.get("line"), error.get("col")
    if isinstance(exc, SqlglotError):
        return str(exc).split("\n")[0], None, None
    return f"{exc.__class__.__name__}: {exc}".split("\n")[0], None, None
