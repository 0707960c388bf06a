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

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope
from sqlglot.schema import MappingSchema
from sqlglot.tokens import Token, TokenType

from lineage.blocks import Piece, needs_structure, split_script
from lineage.ddl import Move, moves, mutation, teradata_phrases
from lineage.models import ColumnEdge, ColumnRef, StatementLineage, compose, edge_order
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

SchemaInput = Mapping[str, Sequence[str]]
Traced = dict[ColumnRef, str]  # base column → strongest kind along the path


PSEUDO_COLUMNS = frozenset({"rownum", "rowid", "level", "connect_by_isleaf", "connect_by_iscycle", "sysdate"})
"""Oracle's pseudo-columns: read from no table, whatever qualify binds them to."""


@dataclass
class Tracer:
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
    variables: frozenset[str] = frozenset()  # a procedure's parameters and variables: no table's columns
    arrays: dict[int, dict[str, exp.Expr]] = field(default_factory=dict)  # ARRAY JOIN aliases per scope
    # window PARTITION BY / ORDER BY columns shaping each output, carried up to what reads it
    shapes: dict[tuple[int, str], set[ColumnRef]] = field(default_factory=dict)
    shaping: list[set[ColumnRef]] = field(default_factory=list)

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
            if column.lower() not in self.variables:  # a procedure's variable is no column of it
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
            if source.scope_type == ScopeType.UDTF or not projections_of(source):
                self._unresolved(what)
                return out
            for select in projections_of(source):
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
            if self.shaping:
                self.shaping[-1].update(self.shapes.get(key, ()))
            return self.memo[key]
        if key in self.visiting:  # a recursive CTE reading itself
            return {}
        self.visiting.add(key)
        self.shaping.append(set())
        result: Traced = {}
        if scope.set_operation_scopes:
            position = self._position(scope, name)
            removing = isinstance(scope.expression, exp.Except)
            for number, branch in enumerate(scope.set_operation_scopes):
                selects = projections_of(branch)
                if position is None:
                    continue
                if removing and number > 0:  # EXCEPT / MINUS: the right side only removes rows
                    for select in selects:
                        self.extra_indirect.update(self.output(branch, select.alias_or_name))
                elif position < len(selects):
                    _merge(result, self.output(branch, selects[position].alias_or_name))
        else:
            projection = next((s for s in projections_of(scope) if s.alias_or_name == name), None)
            if projection is None:
                self._unresolved(name)
            else:
                result = self.expression(scope, projection)
        self.visiting.discard(key)
        self.memo[key] = result
        shapes = self.shaping.pop()
        self.shapes[key] = shapes
        if self.shaping:
            self.shaping[-1].update(shapes)
        return result

    def shape_of(self, scope: Scope, name: str) -> set[ColumnRef]:
        """The window columns shaping output ``name`` of ``scope`` (traced by :meth:`output`)."""
        return self.shapes.get(self._key(scope, name), set())

    def read(self, scope: Scope, column: exp.Column) -> set[ColumnRef]:
        """What a filter, join or ordering column reads: its sources and the windows behind it."""
        self.shaping.append(set())
        refs = set(self.column(scope, column))
        return refs | self.shaping.pop()

    @staticmethod
    def _position(scope: Scope, name: str) -> int | None:
        first = scope
        while first.set_operation_scopes:
            first = first.set_operation_scopes[0]
        names = [s.alias_or_name for s in projections_of(first)]
        return names.index(name) if name in names else None

    def expression(self, scope: Scope, node: exp.Expr) -> Traced:
        """Base columns of an expression in ``scope``, with the kind of the whole expression."""
        inner = node.this if isinstance(node, exp.Alias) else node
        result: Traced = {}
        own = _Owned(inner)  # one walk: the columns, patterns, rows, windows and subqueries of its own
        for pattern in own.patterns:  # COLUMNS(...), #n: which columns is not known here
            kind_of = _kind_in(pattern, inner)
            for ref, kind in self.every(scope, None, pattern.sql()).items():
                result[ref] = _stronger(result.get(ref), compose(kind_of, kind))
            self._unresolved(f"{pattern.sql()} (a column pattern: read as every column)")
        for row in own.rows:  # s, to_json(s): a whole row of source s
            kind_of = _kind_in(row, inner)
            outer: Scope | None = scope
            while outer is not None and row.name not in outer.sources:
                outer = outer.parent
            source = outer.sources[row.name] if outer is not None else None
            if source is None:
                self._unresolved(f"{row.sql()} (a row of an unknown source)")
                continue
            for ref, kind in self.every(scope, source, row.sql()).items():
                result[ref] = _stronger(result.get(ref), compose(kind_of, kind))
        for column in own.columns:
            if (own.windows and _in_window_spec(column)) or (
                own.patterns_or_lambdas and in_pattern(column, inner)
            ):
                continue
            kind_of = _kind_in(column, inner)
            for ref, kind in self.column(scope, column).items():
                result[ref] = _stronger(result.get(ref), compose(kind_of, kind))
        for subquery in own.subqueries:
            child = _scope_of(scope, subquery)
            if child is not None:
                for ref, kind in self._scope_values(child).items():
                    result[ref] = _stronger(result.get(ref), compose("transformation", kind))
        if own.windows:
            shaped: set[ColumnRef] = set()
            for spec in _window_specs(inner):
                for column in columns_outside_subqueries(spec):
                    shaped |= self.read(scope, column)
            if self.shaping:
                self.shaping[-1].update(shaped)
        return result

    def _scope_values(self, scope: Scope) -> Traced:
        out: Traced = {}
        for select in projections_of(scope):
            _merge(out, self.output(scope, select.alias_or_name))
        return out

    def column(self, scope: Scope, column: exp.Column) -> Traced:
        """Resolve a column reference through the scope's sources."""
        source_name = column.table
        if self.variables and (source_name or column.name).lower() in self.variables:
            if not source_name and any(
                self._has(each, column)
                for each in scope.sources.values()
                if not isinstance(each, exp.Table) or table_name(each) in self.known
            ):
                pass  # a real column of that name shadows the variable
            elif not source_name or source_name not in scope.sources:
                return {}  # a variable (v_cutoff) or a loop's record (r.amount): a value, not a column
        arrays = self.arrays.get(id(scope))
        if arrays is None:
            arrays = self.arrays[id(scope)] = _array_joins(scope)
        if arrays and column.name in arrays:  # ClickHouse's ARRAY JOIN tags AS tag: an element of the array
            return {
                ref: compose("transformation", kind)
                for ref, kind in self.expression(scope, arrays[column.name]).items()
            }
        source = scope.sources.get(source_name) if source_name else None
        if source is None and not source_name:
            source = _udtf_providing(scope, column.name)
        if source is None and not source_name and len(scope.sources) == 1:
            source = next(iter(scope.sources.values()))
        candidates: list[str] = []
        if source is None and not source_name and len(scope.sources) > 1:
            # an unqualified column over a join: the only source that can have it, if the schema says
            candidates = [name for name, each in scope.sources.items() if self._has(each, column)]
            if len(candidates) == 1:
                source = scope.sources[candidates[0]]
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
            return self.base(table_name(source), column_name(column.this))
        if len(candidates) > 1:
            tables = sorted(self._label(scope.sources[name], name) for name in candidates)
            self._unresolved(f"{column.sql()} (in one of {', '.join(tables)})")
            return {}
        self._unresolved(column.sql())
        return {}

    @staticmethod
    def _label(source: Scope | exp.Table, alias: str) -> str:
        return table_name(source) if isinstance(source, exp.Table) else alias

    def _has(self, source: Scope | exp.Table | None, column: exp.Column) -> bool:
        """Whether ``source`` has a real column of that name (a table not in the schema may)."""
        if isinstance(source, Scope):
            return column.name in {s.alias_or_name for s in projections_of(source)}
        if isinstance(source, exp.Table):
            table = table_name(source)
            return table not in self.known or column_name(column.this) in self.known[table]
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
                for p in projections_of(scope)
                if not (p.this if isinstance(p, exp.Alias) else p).find(exp.AggFunc)
            ]
        for join in query.args.get("joins") or []:
            for key in ("on", "using"):
                part = join.args.get(key)
                if isinstance(part, list):
                    clauses.extend(part)
                elif part is not None:
                    clauses.append(part)
        aliases = {s.alias for s in projections_of(scope) if isinstance(s, exp.Alias)}
        order = query.args.get("order")
        for clause in clauses:
            own = _Owned(clause)
            for column in own.columns:
                if clause is order and column.name in aliases:  # ORDER BY names an output first
                    self.shaping.append(set())
                    refs.update(self.output(scope, column.name))
                    refs.update(self.shaping.pop())
                else:
                    refs.update(self.read(scope, column))
            for subquery in own.subqueries:
                child = _scope_of(scope, subquery)
                if child is not None:
                    refs.update(self._scope_values(child))
        return refs


class _Owned:
    """The nodes of an expression that belong to its own query, found in one walk that stops at
    subqueries (which are kept, as the subqueries it reads)."""

    __slots__ = ("columns", "patterns", "patterns_or_lambdas", "rows", "subqueries", "windows")

    def __init__(self, inner: exp.Expr) -> None:
        self.columns: list[exp.Column] = []
        self.patterns: list[exp.Expr] = []
        self.rows: list[exp.Expr] = []
        self.subqueries: list[exp.Expr] = []
        self.windows = False
        self.patterns_or_lambdas = False
        if isinstance(inner, exp.Column) and isinstance(inner.this, exp.Identifier):
            self.columns.append(inner)  # the most common projection and key: no walk needed
            return
        for node in inner.walk(prune=lambda n: n is not inner and isinstance(n, exp.Query)):
            if node is not inner and isinstance(node, exp.Query):
                self.subqueries.append(node)
            elif isinstance(node, exp.Column):
                self.columns.append(node)
            elif isinstance(node, exp.Window):
                self.windows = True
            elif isinstance(node, exp.TableColumn):
                self.rows.append(node)
            elif isinstance(node, (exp.Columns, exp.Lambda)):
                self.patterns_or_lambdas = True
                if isinstance(node, exp.Columns):
                    self.patterns.append(node)
            elif isinstance(node, (exp.PositionalColumn, exp.Star)):
                self.patterns.append(node)
        if self.patterns:
            self.patterns = [p for p in self.patterns if _is_pattern(p, inner)]


def _kind_in(node: exp.Expr, top: exp.Expr) -> str:
    """How ``node``'s value reaches ``top``: itself, inside an aggregate, or transformed."""
    return "direct" if node is top else "aggregation" if _aggregated(node, top) else "transformation"


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


def owned_nodes(node: exp.Expr, *types: type[exp.Expr]) -> list[exp.Expr]:
    """Nodes of ``types`` in ``node`` that belong to its own query (not to its subqueries)."""
    owner = node if isinstance(node, exp.Query) else _scope_owner(node)
    return [n for n in node.find_all(*types) if _scope_owner(n) is owner]


def column_patterns(node: exp.Expr) -> list[exp.Expr]:
    """``COLUMNS(...)``, positional ``#n`` and a bare ``*`` inside an expression (``* LIKE 'a%'``,
    ``struct_pack(*)``; not ``COUNT(*)``, not ``t.*``) in ``node`` (not in its subqueries)."""
    return [p for p in owned_nodes(node, exp.Columns, exp.PositionalColumn, exp.Star) if _is_pattern(p, node)]


def _is_pattern(candidate: exp.Expr, top: exp.Expr) -> bool:
    """Whether a COLUMNS(...), #n or * found in ``top`` reads a column pattern: not a part of an
    outer COLUMNS(...), and not the star of COUNT(*), of t.*, of a SELECT list or of ``top`` itself."""
    if any(isinstance(a, exp.Columns) for a in ancestors_within(candidate, top)):
        return False
    return not (
        isinstance(candidate, exp.Star)
        and (
            candidate is top or isinstance(candidate.parent, (exp.Count, exp.Column, exp.Select, exp.Columns))
        )
    )


def ancestors_within(node: exp.Expr, top: exp.Expr) -> Iterator[exp.Expr]:
    parent = node.parent
    while parent is not None and node is not top:
        yield parent
        if parent is top:
            return
        parent = parent.parent


def in_pattern(column: exp.Column, top: exp.Expr) -> bool:
    """Whether ``column`` is a lambda parameter or part of a ``COLUMNS(...)`` pattern."""
    for ancestor in ancestors_within(column, top) if column is not top else ():
        if isinstance(ancestor, exp.Columns):
            return True
        if (
            isinstance(ancestor, exp.Lambda)
            and not column.table
            and column.name in {p.name for p in ancestor.expressions}
        ):
            return True
    return False


def _array_joins(scope: Scope) -> dict[str, exp.Expr]:
    """The aliases of ClickHouse's ``ARRAY JOIN arr AS x`` in ``scope``: x is an element of arr."""
    joins = scope.expression.args.get("joins") if isinstance(scope.expression, exp.Select) else None
    out: dict[str, exp.Expr] = {}
    for join in joins or []:
        if str(join.args.get("kind") or "").upper() == "ARRAY":
            for item in [join.this, *(join.args.get("expressions") or [])]:
                if isinstance(item, exp.Alias):
                    out[item.alias] = item.this
    return out


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


def projections_of(scope: Scope) -> list[exp.Expr]:
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


def columns_outside_subqueries(node: exp.Expr) -> Iterable[exp.Column]:
    owner = node if isinstance(node, exp.Query) else _scope_owner(node)
    for column in node.find_all(exp.Column):
        if _scope_owner(column) is owner:
            yield column


def _in_window_spec(column: exp.Column) -> bool:
    parent = column.parent
    while parent is not None and not isinstance(parent, exp.Query):
        if isinstance(parent, exp.Window):
            spec = [*(parent.args.get("partition_by") or []), parent.args.get("order")]
            # by identity: lagInFrame(started_at) OVER (ORDER BY started_at) reads started_at twice
            return any(s is not None and any(node is column for node in s.walk()) for s in spec)
        parent = parent.parent
    return False


def _scope_of(scope: Scope, query: exp.Expr) -> Scope | None:
    target = query.this if isinstance(query, exp.Subquery) else query
    for child in scope.subquery_scopes:
        if child.expression is target:
            return child
    return None


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
        first = _first(root)
        outputs = [s.alias_or_name for s in projections_of(first)]
        labels = [_output_name(s) for s in projections_of(first)]  # unquoted names lower-cased, as compared
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
                _merge(traced, tracer.expression(root, projections_of(root)[position]))
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
            traced[edge.source] = _stronger(traced.get(edge.source), edge.kind)
        indirect = {e.source for e in lineage.columns if e.kind == "indirect"}
        self.temp[target] = table
        self.temp_sources[target] = tuple(
            sorted({*lineage.sources, *(self.temp_sources.get(target, ()) if add else ())})
        )
        self.temp_indirect[target] = indirect | (self.temp_indirect.get(target, set()) if add else set())


def _query_columns(query: exp.Expr) -> list[str] | None:
    """The output names of a derived table, or None when one is a star (not known here)."""
    selects = (
        query.this.selects if isinstance(query, exp.Subquery) and isinstance(query.this, exp.Query) else []
    )
    if not selects or any(
        isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in selects
    ):
        return None
    return [_output_name(s) for s in selects]


def _output_name(projection: exp.Expr) -> str:
    """An output's name as lineage reports it: an unquoted one lower-cased, whatever case the
    dialect normalizes it to (Snowflake upper-cases), a quoted one as written."""
    alias = projection.args.get("alias") if isinstance(projection, exp.Alias) else None
    if isinstance(alias, exp.Identifier):
        return column_name(alias)
    if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Identifier):
        return column_name(projection.this)
    return projection.alias_or_name


def _first(scope: Scope) -> Scope:
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    return scope


def _target_of(node: exp.Expr) -> tuple[str | None, list[str] | None]:
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


def _kind(create: exp.Create) -> str:
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


def _syntax_only(
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
        reason=f"columns not traced ({_failure(exc)[0]}); tables from the syntax",
        kind=statement.key,
        unresolved=("*",) if target else (),
    )


def _statement(script: Script, statement: exp.Expr, index: int, sql: str) -> StatementLineage:
    with_ = hoist_with(statement)
    if isinstance(statement, exp.Command):
        rewritten = mutation(sql)
        if rewritten is not None:
            return _statement(script, sqlglot.parse_one(rewritten, read=script.dialect), index, sql)
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
        target, columns = _target_of(statement.this)
        query = with_ctes(statement.expression, with_) if statement.expression is not None else None
        kind = f"create {_kind(statement).lower()}".strip()
        if _kind(statement) not in DATA_KINDS:
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
        target, columns = _target_of(statement.this)
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
            _query_columns(using) if isinstance(using, exp.Subquery) else script.schema.get(source or ""),
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


def _failure(exc: Exception) -> tuple[str, int | None, int | None]:
    """(reason, line, column) of a parse error, one line long."""
    if isinstance(exc, ParseError) and exc.errors:
        error = exc.errors[0]
        return str(error.get("description") or exc).split("\n")[0], error.get("line"), error.get("col")
    if isinstance(exc, SqlglotError):
        return str(exc).split("\n")[0], None, None
    return f"{exc.__class__.__name__}: {exc}".split("\n")[0], None, None


ANSI = ("", "ansi")
"""Names of sqlglot's default dialect: standard SQL, when no dialect is given."""


def _created_and_dropped(parsed: Sequence[tuple[Piece, list[exp.Expr] | Exception]]) -> set[int]:
    """The ``CREATE TABLE`` statements whose table a later statement of the script drops."""
    created: dict[str, exp.Create] = {}
    out: set[int] = set()
    for _, statements in parsed:
        for statement in statements if isinstance(statements, list) else ():
            if isinstance(statement, exp.Create) and _kind(statement) == "TABLE":
                target, _ = _target_of(statement.this)
                if target:
                    created[target] = statement
            elif isinstance(statement, exp.Drop):
                for table in [*(statement.args.get("tables") or []), statement.this]:
                    if isinstance(table, exp.Table) and table_name(table) in created:
                        out.add(id(created.pop(table_name(table))))
    return out


def _cut(tokens: list[Token]) -> Iterator[list[Token]]:
    """Tokens cut at top-level semicolons, as sqlglot's parser cuts a script."""
    chunk: list[Token] = []
    for token in tokens:
        if token.token_type != TokenType.SEMICOLON:
            chunk.append(token)
        elif chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def extract_lineage(
    sql: str,
    dialect: str = "duckdb",
    schema: SchemaInput | None = None,
    default_target: str | None = None,
) -> list[StatementLineage]:
    """Lineage of every statement of ``sql``, procedures' and blocks' bodies included.

    A statement that cannot be parsed comes back ``failed`` with the reason and its line and
    column; the statements around it are still traced. A statement whose columns cannot be traced
    keeps the tables its syntax reads and writes, ``partial``. ``dialect`` ``ansi`` (or empty) is
    sqlglot's default, standard SQL.
    """
    name = "" if (dialect or "").lower() in ANSI else dialect
    if name == "teradata":
        sql = teradata_phrases(sql)
    script = Script(name, KnownTables(schema), default_target)
    try:
        engine = Dialect.get_or_raise(name)
        tokens = engine.tokenize(sql)
        structured = needs_structure(sql, tokens, name)
        if structured:  # procedures, blocks, T-SQL without semicolons: cut by the block structure
            chunks = [(engine.tokenize(piece.text), piece) for piece in split_script(sql, name)]
        else:
            chunks = [(part, Piece(sql, part[0].start, part[-1].end, False)) for part in _cut(tokens)]
    except (SqlglotError, ValueError) as exc:  # an unknown dialect, or text that cannot be tokenized
        reason, line, col = _failure(exc)
        return [StatementLineage(0, sql, status="failed", reason=reason, line=line, col=col)]
    parser = engine.parser()
    parsed: list[tuple[Piece, list[exp.Expr] | Exception]] = []
    for part, piece in chunks:
        try:
            trees = parser.parse(part, piece.text if structured else sql)
            parsed.append((piece, [tree for tree in trees if tree is not None]))
        except SqlglotError as exc:
            parsed.append((piece, exc))
    script.transient = _created_and_dropped(parsed)
    out: list[StatementLineage] = []
    for piece, statements in parsed:
        text = piece.text
        if isinstance(statements, Exception):
            reason, line, col = _failure(statements)
            if structured and line is not None:
                line += piece.first_line - 1
            out.append(StatementLineage(len(out), text, status="failed", reason=reason, line=line, col=col))
            continue
        script.in_block = piece.in_block
        script.variables = piece.variables
        for ordinal, statement in enumerate(statements):
            index = len(out)
            try:
                out.append(_statement(script, statement, index, text))
            except Exception as exc:  # the columns could not be traced: the tables still are
                out.append(_fallback(script, engine, text, ordinal, index, exc))
    return out


def _fallback(
    script: Script, engine: Dialect, text: str, ordinal: int, index: int, exc: Exception
) -> StatementLineage:
    """The syntax-only lineage of a statement whose tracing raised (parsed afresh: tracing rewrites)."""
    try:
        statement = [s for s in engine.parse(text) if s is not None][ordinal]
        return _syntax_only(script, statement, index, text, exc)
    except Exception:
        return StatementLineage(index, text, status="failed", reason=_failure(exc)[0])
