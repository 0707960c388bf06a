"""Column-level lineage of SQL, parsed with sqlglot against a known schema.

One pass per statement: the statement is qualified (stars expanded, columns bound to their
tables), its scopes are built once, and every output column is traced through the scopes with a
memo, so CTEs and subqueries are resolved once however many outputs read them. Each edge has a
kind — ``direct`` (the value is copied), ``transformation`` (an expression of it),
``aggregation`` (an aggregate over it) or ``indirect`` (it is read by WHERE, JOIN, GROUP BY,
HAVING, QUALIFY, ORDER BY or a window's PARTITION/ORDER, and shapes the output without flowing
into it).

Writes are understood for ``CREATE TABLE/VIEW AS``, ``INSERT … SELECT``, ``MERGE``,
``UPDATE … FROM`` and ``SELECT … INTO``; a bare query writes to ``default_target`` (a view's
name). In a script, temporary tables (``CREATE TEMP TABLE``, ``#tmp``) are carried through to
the statements that read them, and forgotten when dropped.

>>> [str(e) for e in extract_lineage("select a, sum(b) as s from t group by a", default_target="v",
...     schema={"t": ["a", "b"]})[0].columns]
['t.a -> v.a (direct)', 't.a -> v.a (indirect)', 't.a -> v.s (indirect)', 't.b -> v.s (aggregation)']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope
from sqlglot.tokens import Token, TokenType

from lineage.models import ColumnEdge, ColumnRef, StatementLineage, compose

SchemaInput = Mapping[str, Sequence[str]]
Traced = dict[ColumnRef, str]  # base column → strongest kind along the path


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


PSEUDO_COLUMNS = frozenset({"rownum", "rowid", "level", "connect_by_isleaf", "connect_by_iscycle", "sysdate"})
"""Oracle's pseudo-columns: read from no table, whatever qualify binds them to."""


def _column_name(identifier: exp.Expr | str) -> str:
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


@dataclass
class _Tracer:
    """Traces one qualified query's output columns to base-table columns."""

    temp: Mapping[str, Mapping[str, Traced]]
    temp_sources: Mapping[str, Sequence[str]] = field(default_factory=dict)
    known: Mapping[str, Sequence[str]] = field(default_factory=dict)
    scopes: dict[int, Scope] = field(default_factory=dict)  # id of a query → the traversed scope of it
    memo: dict[tuple[int, str], Traced] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)
    visiting: set[tuple[int, str]] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    extra_indirect: set[ColumnRef] = field(default_factory=set)
    incomplete: set[tuple[int, str]] = field(default_factory=set)  # outputs with an unknown source

    def _unresolved(self, what: str) -> None:
        """Note what could not be resolved; every output being traced is then incomplete."""
        self.unresolved.add(what)
        self.incomplete.update(self.visiting)

    def _key(self, scope: Scope, name: str) -> tuple[int, str]:
        return (id(self.scopes.get(id(scope.expression), scope) if not scope.sources else scope), name)

    def is_incomplete(self, scope: Scope, name: str) -> bool:
        return self._key(scope, name) in self.incomplete

    def base(self, table: str, column: str) -> Traced:
        """A column of a real table, or of a temporary table replaced by what it was built from."""
        if table in self.temp:
            self.sources.update(self.temp_sources.get(table, ()))
            upstream = self.temp[table].get(column)
            if upstream is None:
                self._unresolved(f"{table}.{column}")
                return {}
            return dict(upstream)
        self.sources.add(table)
        if table in self.known and column not in self.known[table]:  # not a column of that table
            self._unresolved(f"{table}.{column}")
            return {}
        return {ColumnRef(table, column): "direct"}

    def every(self, scope: Scope, source: Scope | exp.Table | None, what: str) -> Traced:
        """Every column of ``source`` (a whole-row read), or of every source of ``scope`` (None)."""
        if source is None:
            out: Traced = {}
            for each in scope.sources.values():
                _merge(out, self.every(scope, each, what))
            if not scope.sources:
                self._unresolved(what)
            return out
        if isinstance(source, Scope):
            out = {}
            if source.scope_type == ScopeType.UDTF or not _selects(source):
                self._unresolved(what)
                return out
            for select in _selects(source):
                _merge(out, self.output(source, select.alias_or_name))
            return out
        if not isinstance(source.this, exp.Identifier):
            return self.table_function(scope, source.this)
        table = table_name(source)
        if table in self.temp:
            out = {}
            for column in self.temp[table]:
                _merge(out, self.base(table, column))
            return out
        if table not in self.known:
            self.sources.add(table)
            self._unresolved(f"{table}.* ({what})")
            return {}
        out = {}
        for column in self.known[table]:
            _merge(out, self.base(table, column))
        return out

    def output(self, scope: Scope, name: str) -> Traced:
        """The base columns feeding output column ``name`` of ``scope``."""
        # a recursive CTE's reference to itself is a scope of its own over the anchor's query, with
        # no sources: its rows start as the anchor's, so it is traced as the anchor
        scope = self.scopes.get(id(scope.expression), scope) if not scope.sources else scope
        key = (id(scope), name)
        if key in self.memo:
            if key in self.incomplete:
                self.incomplete.update(self.visiting)
            return self.memo[key]
        if key in self.visiting:  # a recursive CTE reading itself
            return {}
        self.visiting.add(key)
        result: Traced = {}
        if scope.set_operation_scopes:
            position = self._position(scope, name)
            removing = isinstance(scope.expression, exp.Except)
            for number, branch in enumerate(scope.set_operation_scopes):
                selects = _selects(branch)
                if position is None:
                    continue
                if removing and number > 0:  # EXCEPT / MINUS: the right side only removes rows
                    for select in selects:
                        self.extra_indirect.update(self.output(branch, select.alias_or_name))
                elif position < len(selects):
                    _merge(result, self.output(branch, selects[position].alias_or_name))
        else:
            projection = next((s for s in _selects(scope) if s.alias_or_name == name), None)
            if projection is None:
                self._unresolved(name)
            else:
                result = self.expression(scope, projection)
        self.visiting.discard(key)
        self.memo[key] = result
        return result

    @staticmethod
    def _position(scope: Scope, name: str) -> int | None:
        first = scope
        while first.set_operation_scopes:
            first = first.set_operation_scopes[0]
        names = [s.alias_or_name for s in _selects(first)]
        return names.index(name) if name in names else None

    def expression(self, scope: Scope, node: exp.Expr) -> Traced:
        """Base columns of an expression in ``scope``, with the kind of the whole expression."""
        inner = node.this if isinstance(node, exp.Alias) else node
        result: Traced = {}
        for pattern in _patterns(inner):  # COLUMNS(...), #n: which columns is not known here
            own = (
                "direct"
                if pattern is inner
                else "aggregation"
                if _aggregated(pattern, inner)
                else "transformation"
            )
            for ref, kind in self.every(scope, None, pattern.sql()).items():
                result[ref] = _stronger(result.get(ref), compose(own, kind))
            self._unresolved(f"{pattern.sql()} (a column pattern: read as every column)")
        for row in _owned(inner, exp.TableColumn):  # s, to_json(s): a whole row of source s
            own = "direct" if row is inner else "aggregation" if _aggregated(row, inner) else "transformation"
            outer: Scope | None = scope
            while outer is not None and row.name not in outer.sources:
                outer = outer.parent
            source = outer.sources[row.name] if outer is not None else None
            if source is None:
                self._unresolved(f"{row.sql()} (a row of an unknown source)")
                continue
            for ref, kind in self.every(scope, source, row.sql()).items():
                result[ref] = _stronger(result.get(ref), compose(own, kind))
        for column in _columns_outside_subqueries(inner):
            if _in_window_spec(column) or _in_pattern(column, inner):
                continue
            own = (
                "direct"
                if column is inner
                else "aggregation"
                if _aggregated(column, inner)
                else "transformation"
            )
            for ref, kind in self.column(scope, column).items():
                result[ref] = _stronger(result.get(ref), compose(own, kind))
        for subquery in inner.find_all(exp.Subquery, exp.Select):
            child = _scope_of(scope, subquery)
            if child is not None:
                for ref, kind in self._scope_values(child).items():
                    result[ref] = _stronger(result.get(ref), compose("transformation", kind))
        return result

    def _scope_values(self, scope: Scope) -> Traced:
        out: Traced = {}
        for select in _selects(scope):
            _merge(out, self.output(scope, select.alias_or_name))
        return out

    def column(self, scope: Scope, column: exp.Column) -> Traced:
        """Resolve a column reference through the scope's sources."""
        source_name = column.table
        source = scope.sources.get(source_name) if source_name else None
        if source is None and not source_name:
            source = _udtf_providing(scope, column.name)
        if source is None and not source_name and len(scope.sources) == 1:
            source = next(iter(scope.sources.values()))
        if source is None:
            outer = scope.parent  # a correlated reference
            while outer is not None and source is None:
                source = outer.sources.get(source_name) if source_name else None
                outer = outer.parent
        if isinstance(column.this, exp.Star):  # t.* inside an expression: the whole row
            return self.every(scope, source if column.table else None, column.sql())
        if not column.table and column.name in scope.sources and not self._has(source, column):
            return self.every(scope, scope.sources[column.name], column.sql())  # a row as a struct: s
        if column.name.lower() in PSEUDO_COLUMNS and not self._has(source, column):
            return {}  # ROWNUM, LEVEL: whatever qualify bound them to, they come from no table
        if isinstance(source, Scope) and source.scope_type == ScopeType.UDTF:
            lateral = source.expression
            if isinstance(lateral, exp.Lateral) and isinstance(lateral.this, exp.Subquery):
                inner = next((s for s in source.subquery_scopes if s.expression is lateral.this.this), None)
                if inner is not None:  # LATERAL (SELECT ...): its outputs, like a derived table's
                    return self.output(inner, column.name)
            return self.udtf(source)
        if isinstance(source, Scope):
            return self.output(source, column.name)
        if source is None and not scope.sources and scope.scope_type == ScopeType.CTE:
            return {}  # the recursive reference of a recursive CTE: its anchor is traced already
        if isinstance(source, exp.Table) and not isinstance(source.this, exp.Identifier):
            label = _outside_reader(source)
            if label:  # read_csv('...'), '/path/file.parquet', postgres_scan(...): not the registry's
                self.sources.add(label)
                self._unresolved(f"{label} (read by a table function: data the registry does not declare)")
                return {}
            return self.table_function(scope, source.this)  # generate_series(...) AS g(d)
        if isinstance(source, exp.Table):
            return self.base(table_name(source), _column_name(column.this))
        self._unresolved(column.sql())
        return {}

    def _has(self, source: Scope | exp.Table | None, column: exp.Column) -> bool:
        """Whether ``source`` has a real column of that name (a table not in the schema may)."""
        if isinstance(source, Scope):
            return column.name in {s.alias_or_name for s in _selects(source)}
        if isinstance(source, exp.Table):
            table = table_name(source)
            return table not in self.known or _column_name(column.this) in self.known[table]
        return False

    def table_function(self, scope: Scope, function: exp.Expr) -> Traced:
        """Columns of a table-valued function: a transformation of the columns it is given."""
        out: Traced = {}
        for column in function.find_all(exp.Column):
            for ref, kind in self.column(scope, column).items():
                out[ref] = _stronger(out.get(ref), compose("transformation", kind))
        return out

    def udtf(self, scope: Scope) -> Traced:
        """Columns produced by UNNEST / LATERAL VIEW EXPLODE: a transformation of their input."""
        function = scope.expression
        inner = function.this if isinstance(function, exp.Lateral) else function
        return self.table_function(scope, inner) if inner is not None else {}

    def indirect(self, scope: Scope) -> set[ColumnRef]:
        """Columns a scope reads to filter, join, group, order or partition."""
        refs: set[ColumnRef] = set()
        query = scope.expression
        clauses: list[exp.Expr] = []  # every clause is a parsed expression, never None
        for key in ("where", "group", "having", "qualify", "order", "connect"):
            clause = query.args.get(key)
            if clause is not None:
                clauses.append(clause)
        group = query.args.get("group")
        if group is not None and group.args.get("all"):  # GROUP BY ALL: every projection not aggregated
            clauses += [
                p.this if isinstance(p, exp.Alias) else p
                for p in _selects(scope)
                if not (p.this if isinstance(p, exp.Alias) else p).find(exp.AggFunc)
            ]
        for join in query.args.get("joins") or []:
            for key in ("on", "using"):
                part = join.args.get(key)
                if isinstance(part, list):
                    clauses.extend(part)
                elif part is not None:
                    clauses.append(part)
        if not scope.is_root:  # windows of the outer query shape only their own output column
            clauses += _window_specs(query)
        aliases = {s.alias for s in _selects(scope) if isinstance(s, exp.Alias)}
        order = query.args.get("order")
        for clause in clauses:
            for column in _columns_outside_subqueries(clause):
                if clause is order and column.name in aliases:  # ORDER BY names an output first
                    refs.update(self.output(scope, column.name))
                else:
                    refs.update(self.column(scope, column))
            for subquery in clause.find_all(exp.Select) if isinstance(clause, exp.Expr) else ():
                child = _scope_of(scope, subquery)
                if child is not None:
                    refs.update(self._scope_values(child))
        return refs


ANALYTIC = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)


def _aggregated(column: exp.Expr, top: exp.Expr) -> bool:
    """Whether the column sits inside an aggregate (not an analytic like LAG) below ``top``."""
    parent = column.parent
    while parent is not None:
        if isinstance(parent, exp.AggFunc) and not isinstance(parent, ANALYTIC):
            return True
        if isinstance(parent, exp.Filter) and isinstance(parent.this, exp.AggFunc):
            return True  # COUNT(*) FILTER (WHERE status = 'paid'): what is counted
        if parent is top:
            return False
        parent = parent.parent
    return False


GENERATORS: tuple[type[exp.Expr], ...] = tuple(
    t for t in (getattr(exp, n, None) for n in ("GenerateSeries", "ExplodingGenerateSeries")) if t is not None
)


def _outside_reader(table: exp.Table) -> str | None:
    """A name for a table function reading data no column of the query gives it (a file, a URL,
    another database), or None for a generator or a function of the query's own columns."""
    function = table.this
    if isinstance(function, GENERATORS) or any(True for _ in function.find_all(exp.Column)):
        return None
    if isinstance(function, exp.Anonymous) and str(function.name).lower() in ("range", "generate_subscripts"):
        return None
    text = function.sql()
    return table_name(table) or (text if len(text) <= 60 else text[:57] + "...")


def _owned(node: exp.Expr, *types: type[exp.Expr]) -> list[exp.Expr]:
    """Nodes of ``types`` in ``node`` that belong to its own query (not to its subqueries)."""
    owner = node if isinstance(node, exp.Query) else _scope_owner(node)
    return [n for n in node.find_all(*types) if _scope_owner(n) is owner]


def _patterns(node: exp.Expr) -> list[exp.Expr]:
    """``COLUMNS(...)``, positional ``#n`` and a bare ``*`` inside an expression (``* LIKE 'a%'``,
    ``struct_pack(*)``; not ``COUNT(*)``, not ``t.*``) in ``node`` (not in its subqueries)."""
    return [
        p
        for p in _owned(node, exp.Columns, exp.PositionalColumn, exp.Star)
        if not any(isinstance(a, exp.Columns) for a in _ancestors(p, node))
        and not (
            isinstance(p, exp.Star)
            and (p is node or isinstance(p.parent, (exp.Count, exp.Column, exp.Select, exp.Columns)))
        )
    ]


def _ancestors(node: exp.Expr, top: exp.Expr) -> Iterator[exp.Expr]:
    parent = node.parent
    while parent is not None and node is not top:
        yield parent
        if parent is top:
            return
        parent = parent.parent


def _in_pattern(column: exp.Column, top: exp.Expr) -> bool:
    """Whether ``column`` is a lambda parameter or part of a ``COLUMNS(...)`` pattern."""
    for ancestor in _ancestors(column, top) if column is not top else ():
        if isinstance(ancestor, exp.Columns):
            return True
        if (
            isinstance(ancestor, exp.Lambda)
            and not column.table
            and column.name in {p.name for p in ancestor.expressions}
        ):
            return True
    return False


def _udtf_providing(scope: Scope, name: str) -> Scope | None:
    """The LATERAL VIEW / UNNEST of ``scope`` whose column alias list names ``name``."""
    for source in scope.sources.values():
        if isinstance(source, Scope) and source.scope_type == ScopeType.UDTF:
            alias = source.expression.args.get("alias")
            columns = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
            if name in columns:
                return source
    return None


def _window_specs(node: exp.Expr) -> list[exp.Expr]:
    """PARTITION BY and ORDER BY parts of the windows in ``node`` (not in its subqueries)."""
    owner = node if isinstance(node, exp.Query) else _scope_owner(node)
    specs: list[exp.Expr] = []
    for window in node.find_all(exp.Window):
        if _scope_owner(window) is not owner:
            continue
        specs.extend(window.args.get("partition_by") or [])
        order = window.args.get("order")
        if order is not None:
            specs.append(order)
        name = window.args.get("alias")
        if isinstance(name, exp.Identifier) and isinstance(owner, exp.Select):  # OVER w: WINDOW w AS (...)
            for named in owner.args.get("windows") or []:
                if named.this.name == name.name:
                    specs.extend(named.args.get("partition_by") or [])
                    if named.args.get("order") is not None:
                        specs.append(named.args["order"])
    return specs


def _selects(scope: Scope) -> list[exp.Expr]:
    expression = scope.expression
    return list(expression.selects) if isinstance(expression, exp.Query) else []


def _merge(into: Traced, other: Traced) -> None:
    for ref, kind in other.items():
        into[ref] = _stronger(into.get(ref), kind)


def _stronger(current: str | None, new: str) -> str:
    return new if current is None else compose(current, new)


def _scope_owner(node: exp.Expr) -> exp.Expr | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Query):
        parent = parent.parent
    return parent


def _columns_outside_subqueries(node: exp.Expr) -> Iterable[exp.Column]:
    owner = node if isinstance(node, exp.Query) else _scope_owner(node)
    for column in node.find_all(exp.Column):
        if _scope_owner(column) is owner:
            yield column


def _in_window_spec(column: exp.Column) -> bool:
    parent = column.parent
    while parent is not None and not isinstance(parent, exp.Query):
        if isinstance(parent, exp.Window):
            spec = [*(parent.args.get("partition_by") or []), parent.args.get("order")]
            return any(s is not None and (s is column or column in list(s.walk())) for s in spec)
        parent = parent.parent
    return False


def _scope_of(scope: Scope, query: exp.Expr) -> Scope | None:
    target = query.this if isinstance(query, exp.Subquery) else query
    for child in scope.subquery_scopes:
        if child.expression is target:
            return child
    return None


@dataclass
class _Script:
    """State carried from statement to statement: known schema and temporary tables."""

    dialect: str
    schema: dict[str, list[str]]
    default_target: str | None
    temp: dict[str, dict[str, Traced]] = field(default_factory=dict)
    temp_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    temp_indirect: dict[str, set[ColumnRef]] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)  # last name part → schema keys

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
            for key in self.by_name.get(table.name.lower(), ()):
                out[key] = self.schema[key]
        return out

    def define(self, table: str, columns: Sequence[str]) -> None:
        """A table the script creates or names: later statements resolve against it."""
        self.schema[table] = list(columns)
        if self.by_name:
            self.by_name.setdefault(table.rpartition(".")[2].lower(), set()).add(table)

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
        qualified = qualify(  # in place: every caller hands over a tree it no longer needs
            query,
            dialect=self.dialect,
            schema=sqlglot_schema(self.relevant(query)) or None,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        root = build_scope(qualified)
        if root is None:
            return StatementLineage(index, sql, status="failed", reason="not a query", kind=kind)
        tracer = _Tracer(self.temp, self.temp_sources, self.schema)
        scopes = list(root.traverse())
        for scope in scopes:
            tracer.scopes.setdefault(id(scope.expression), scope)
        first = _first(root)
        outputs = [s.alias_or_name for s in _selects(first)]
        names = list(columns) if columns else outputs
        # the target column each output writes: the target's own name, else the output's
        written = [names[i] if i < len(names) else output for i, output in enumerate(outputs)]
        edges: set[ColumnEdge] = set()
        traced_by_target: dict[str, Traced] = {}
        own_indirect: dict[str, set[ColumnRef]] = {}  # target column → what shapes it alone
        incomplete: list[str] = []  # target columns some of whose sources are unknown
        for position, (output, name) in enumerate(zip(outputs, written, strict=True)):
            traced = tracer.output(root, output)
            if outputs.count(output) > 1 and root is first and position != outputs.index(output):
                # a name given twice (DuckDB renames the second): trace this projection itself
                traced = dict(traced)
                _merge(traced, tracer.expression(root, _selects(root)[position]))
            if output in shaping:
                for shaped in shaping[output]:
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
        for projection, name in zip(_selects(first), written, strict=True):
            for subquery in projection.find_all(exp.Select):
                child = _scope_of(first, subquery)
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
                    label = _outside_reader(source) if not isinstance(source.this, exp.Identifier) else None
                    if label:
                        tracer.sources.add(label)
        indirect |= tracer.extra_indirect
        ctes = {cte.alias_or_name for cte in qualified.find_all(exp.CTE)}
        for table in qualified.find_all(exp.Table):  # read where no scope reaches (PIVOT, UNPIVOT)
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
            for projection, name in zip(_selects(first), written, strict=True):
                for spec in _window_specs(projection):
                    for column in spec.find_all(exp.Column):
                        for ref in tracer.column(first, column):
                            edges.add(ColumnEdge(ref, ColumnRef(target, name), "indirect"))
        stars = [
            star
            for star in qualified.find_all(exp.Star)
            if isinstance(star.parent, exp.Select)
            or (isinstance(star.parent, exp.Column) and isinstance(star.parent.parent, exp.Select))
        ]
        partial = bool(tracer.unresolved) or bool(stars)
        reason = None
        if stars:
            reason = "SELECT * over a table whose columns are unknown (give a schema)"
        elif tracer.unresolved:
            reason = "unresolved: " + ", ".join(sorted(tracer.unresolved)[:5])
        if target:
            self.define(target, names)
        lineage = StatementLineage(
            index,
            sql,
            tuple(sorted(tracer.sources)),
            (target,) if target else (),
            tuple(sorted(edges)),
            "partial" if partial else "ok",
            reason,
            kind=kind,
            outputs=tuple(names[: len(outputs)]) if target else tuple(outputs),
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
            traced[edge.source] = _stronger(traced.get(edge.source), edge.kind)
        indirect = {e.source for e in lineage.columns if e.kind == "indirect"}
        self.temp[target] = table
        self.temp_sources[target] = tuple(
            sorted({*lineage.sources, *(self.temp_sources.get(target, ()) if add else ())})
        )
        self.temp_indirect[target] = indirect | (self.temp_indirect.get(target, set()) if add else set())


def _first(scope: Scope) -> Scope:
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    return scope


def _target_of(node: exp.Expr) -> tuple[str | None, list[str] | None]:
    """(table, explicit column list) of an INSERT/CREATE target."""
    if isinstance(node, exp.Schema):
        table = node.this
        columns = [_column_name(c if isinstance(c, exp.Identifier) else c.this) for c in node.expressions]
        return (table_name(table) if isinstance(table, exp.Table) else None), columns or None
    if isinstance(node, exp.Table):
        return table_name(node), None
    return None, None


def _is_temp(create: exp.Create, name: str) -> bool:
    props = create.args.get("properties")
    temporary = bool(props and props.find(exp.TemporaryProperty))
    return temporary or name.startswith("#")


def _merge_query(merge: exp.Merge) -> tuple[exp.Select, list[str], dict[str, list[str]]]:
    """MERGE as a SELECT of the values it writes, over target JOIN source ON the condition.

    Each ``WHEN ... AND <condition>`` becomes a projection ``__w<n>`` after the written ones,
    named in the returned shaping map with the target columns its branch writes.
    """
    target = merge.this
    using = merge.args.get("using")
    selects: list[exp.Expr] = []
    names: list[str] = []
    conditions: list[tuple[exp.Expr, list[str]]] = []
    for when in merge.args.get("whens", exp.Whens()).expressions:
        before = len(names)
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            for eq in then.expressions:
                names.append(_column_name(eq.this.this if isinstance(eq.this, exp.Column) else eq.this))
                selects.append(eq.expression.copy())
        elif isinstance(then, exp.Insert):
            columns = then.this.expressions if isinstance(then.this, exp.Tuple) else []
            values = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
            for column, value in zip(columns, values, strict=False):
                names.append(_column_name(column.this if isinstance(column, exp.Column) else column))
                selects.append(value.copy())
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


def _update_query(update: exp.Update) -> tuple[exp.Select, list[str], str | None]:
    """UPDATE as a SELECT of the values it sets, over its tables; with the table it writes.

    ``UPDATE t SET ... FROM s`` reads t joined with s; MySQL's ``UPDATE t JOIN s ON ...`` keeps
    its join; T-SQL's ``UPDATE o SET ... FROM orders o JOIN ...`` names the alias of a FROM table,
    and writes that table.
    """
    names = [
        _column_name(eq.this.this if isinstance(eq.this, exp.Column) else eq.this)
        for eq in update.expressions
    ]
    target, joins = _without_joins(update.this)
    written = table_name(update.this) if isinstance(update.this, exp.Table) else None
    source = update.args.get("from_") or update.args.get("from")
    if source is not None:
        first, more = _without_joins(source.this)
        tables = [first, *(j.this for j in more)]
        aliased = next(
            (
                t
                for t in tables
                if isinstance(t, exp.Table)
                and isinstance(target, exp.Table)
                and not target.db
                and t.alias
                and t.alias == target.name
            ),
            None,
        )
        if aliased is not None:
            target, joins, written = first, more, table_name(aliased)
        else:
            joins = [*joins, exp.Join(this=first), *more]
    select = exp.select(
        *(exp.alias_(eq.expression.copy(), f"__c{i}") for i, eq in enumerate(update.expressions))
    ).from_(target)
    select.set("joins", joins or None)
    where = update.args.get("where")
    if where is not None:
        select = select.where(where.this.copy())
    return select, names, written


def _statement(script: _Script, statement: exp.Expr, index: int, sql: str) -> StatementLineage:
    if isinstance(statement, exp.Create):
        target, columns = _target_of(statement.this)
        query = statement.expression
        kind = f"create {str(statement.args.get('kind') or '').lower()}".strip()
        if target and columns and query is None:
            script.define(target, columns)
        if query is None or not isinstance(query, exp.Query):
            if target and query is None and _is_temp(statement, target):  # filled later, by INSERT
                script.remember_temp(target, StatementLineage(index, sql))
            return StatementLineage(
                index, sql, targets=(target,) if target else (), kind=kind, reason="no data flow"
            )
        lineage = script.trace_query(query, target, columns, kind, index, sql)
        if target and _is_temp(statement, target):
            script.remember_temp(target, lineage)
        return lineage
    if isinstance(statement, exp.Insert):
        target, columns = _target_of(statement.this)
        query = statement.expression
        if not isinstance(query, exp.Query):
            return StatementLineage(
                index, sql, targets=(target,) if target else (), kind="insert", reason="no query (VALUES)"
            )
        if columns is None and target in script.schema:
            columns = script.schema[target]
        lineage = script.trace_query(query, target, columns, "insert", index, sql)
        if target in script.temp:
            script.remember_temp(target, lineage, add=True)
        return lineage
    if isinstance(statement, exp.Merge):
        query, names, shaping = _merge_query(statement)
        target = table_name(statement.this) if isinstance(statement.this, exp.Table) else None
        return script.trace_query(query, target, names, "merge", index, sql, shaping)
    if isinstance(statement, exp.Update):
        query, names, target = _update_query(statement)
        return script.trace_query(query, target, names, "update", index, sql)
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
        lineage = script.trace_query(query, script.default_target, None, statement.key, index, sql)
        what = "UNPIVOT" if statement.args.get("unpivot") else "PIVOT"
        return replace(lineage, reason=f"{what}: its output columns are not known, read as all it reads")
    if isinstance(statement, exp.Query):
        into = statement.args.get("into") if isinstance(statement, exp.Select) else None
        if into is not None:
            target = table_name(into.this)
            statement.set("into", None)
            lineage = script.trace_query(statement, target, None, "select into", index, sql)
            if into.args.get("temporary") or target.startswith("#"):
                script.remember_temp(target, lineage)
            return lineage
        return script.trace_query(statement, script.default_target, None, "select", index, sql)
    return StatementLineage(index, sql, kind=statement.key, reason="no data flow")


def _statements(sql: str, dialect: Dialect) -> Iterator[tuple[list[Token], str]]:
    """The tokens of each statement of a script, with the statement's own text.

    The script is tokenized once and cut at top-level semicolons, as sqlglot's parser cuts it;
    a statement's text is sliced from the script (what the department wrote, comments inside
    kept), rather than generated again from the tree.
    """
    chunk: list[Token] = []
    for token in dialect.tokenize(sql):
        if token.token_type != TokenType.SEMICOLON:
            chunk.append(token)
        elif chunk:
            yield chunk, sql[chunk[0].start : chunk[-1].end + 1]
            chunk = []
    if chunk:
        yield chunk, sql[chunk[0].start : chunk[-1].end + 1]


def _failure(exc: Exception) -> tuple[str, int | None, int | None]:
    """(reason, line, column) of a parse error, one line long."""
    if isinstance(exc, ParseError) and exc.errors:
        error = exc.errors[0]
        return str(error.get("description") or exc).split("\n")[0], error.get("line"), error.get("col")
    if isinstance(exc, SqlglotError):
        return str(exc).split("\n")[0], None, None
    return f"{exc.__class__.__name__}: {exc}".split("\n")[0], None, None


def extract_lineage(
    sql: str,
    dialect: str = "duckdb",
    schema: SchemaInput | None = None,
    default_target: str | None = None,
) -> list[StatementLineage]:
    """Lineage of every statement of ``sql``.

    A statement that cannot be parsed comes back ``failed`` with the reason and its line and
    column; the statements around it are still traced.
    """
    script = _Script(
        dialect, {k.lower(): [c.lower() for c in v] for k, v in (schema or {}).items()}, default_target
    )
    try:
        engine = Dialect.get_or_raise(dialect)
        chunks = list(_statements(sql, engine))
    except SqlglotError as exc:  # an unknown dialect, or text that cannot be tokenized
        reason, line, col = _failure(exc)
        return [StatementLineage(0, sql, status="failed", reason=reason, line=line, col=col)]
    parser = engine.parser()
    out: list[StatementLineage] = []
    for tokens, text in chunks:
        try:
            parsed = [s for s in parser.parse(tokens, sql) if s is not None]
        except SqlglotError as exc:
            reason, line, col = _failure(exc)
            out.append(StatementLineage(len(out), text, status="failed", reason=reason, line=line, col=col))
            continue
        for statement in parsed:
            index = len(out)
            try:
                out.append(_statement(script, statement, index, text))
            except Exception as exc:  # sqlglot raises plain errors on some constructs: keep them as data
                out.append(StatementLineage(index, text, status="failed", reason=_failure(exc)[0]))
    return out
