"""Tracing one qualified statement: every output column followed through its scopes (CTEs,
subqueries, unions, UDTFs) to the base columns it reads, each edge with its kind.

One :class:`Tracer` per statement, with a memo, so a CTE read by many outputs is walked once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType

from lineage.models import ColumnRef, compose
from lineage.names import column_name, table_name
from lineage.scope import (
    Owned,
    array_joins,
    columns_outside_subqueries,
    in_pattern,
    in_window_spec,
    kind_in,
    outside_reader,
    projections_of,
    scope_of,
    udtf_providing,
    window_specs,
)

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
                merge_traced(out, self.every(scope, each, what))
            if not scope.sources:
                self._unresolved(what)
            return out
        if isinstance(source, Scope):
            out = {}
            if source.scope_type == ScopeType.UDTF or not projections_of(source):
                self._unresolved(what)
                return out
            for select in projections_of(source):
                merge_traced(out, self.output(source, select.alias_or_name))
            return out
        if not isinstance(source.this, exp.Identifier):
            return self.table_function(scope, source.this)
        table = table_name(source)
        if table in self.temp:
            out = {}
            for column in self.temp[table]:
                merge_traced(out, self.base(table, column))
            return out
        if table not in self.known:
            self.sources.add(table)
            self._unresolved(f"{table}.* ({what})")
            return {}
        out = {}
        for column in self.known[table]:
            merge_traced(out, self.base(table, column))
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
                    merge_traced(result, self.output(branch, selects[position].alias_or_name))
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
        own = Owned(inner)  # one walk: the columns, patterns, rows, windows and subqueries of its own
        for pattern in own.patterns:  # COLUMNS(...), #n: which columns is not known here
            kind_of = kind_in(pattern, inner)
            for ref, kind in self.every(scope, None, pattern.sql()).items():
                result[ref] = stronger(result.get(ref), compose(kind_of, kind))
            self._unresolved(f"{pattern.sql()} (a column pattern: read as every column)")
        for row in own.rows:  # s, to_json(s): a whole row of source s
            kind_of = kind_in(row, inner)
            outer: Scope | None = scope
            while outer is not None and row.name not in outer.sources:
                outer = outer.parent
            source = outer.sources[row.name] if outer is not None else None
            if source is None:
                self._unresolved(f"{row.sql()} (a row of an unknown source)")
                continue
            for ref, kind in self.every(scope, source, row.sql()).items():
                result[ref] = stronger(result.get(ref), compose(kind_of, kind))
        for column in own.columns:
            if (own.windows and in_window_spec(column)) or (
                own.patterns_or_lambdas and in_pattern(column, inner)
            ):
                continue
            kind_of = kind_in(column, inner)
            for ref, kind in self.column(scope, column).items():
                result[ref] = stronger(result.get(ref), compose(kind_of, kind))
        for subquery in own.subqueries:
            child = scope_of(scope, subquery)
            if child is not None:
                for ref, kind in self._scope_values(child).items():
                    result[ref] = stronger(result.get(ref), compose("transformation", kind))
        if own.windows:
            shaped: set[ColumnRef] = set()
            for spec in window_specs(inner):
                for column in columns_outside_subqueries(spec):
                    shaped |= self.read(scope, column)
            if self.shaping:
                self.shaping[-1].update(shaped)
        return result

    def _scope_values(self, scope: Scope) -> Traced:
        out: Traced = {}
        for select in projections_of(scope):
            merge_traced(out, self.output(scope, select.alias_or_name))
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
            arrays = self.arrays[id(scope)] = array_joins(scope)
        if arrays and column.name in arrays:  # ClickHouse's ARRAY JOIN tags AS tag: an element of the array
            return {
                ref: compose("transformation", kind)
                for ref, kind in self.expression(scope, arrays[column.name]).items()
            }
        source = scope.sources.get(source_name) if source_name else None
        if source is None and not source_name:
            source = udtf_providing(scope, column.name)
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
            label = outside_reader(source)
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
                out[ref] = stronger(out.get(ref), compose("transformation", kind))
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
            own = Owned(clause)
            for column in own.columns:
                if clause is order and column.name in aliases:  # ORDER BY names an output first
                    self.shaping.append(set())
                    refs.update(self.output(scope, column.name))
                    refs.update(self.shaping.pop())
                else:
                    refs.update(self.read(scope, column))
            for subquery in own.subqueries:
                child = scope_of(scope, subquery)
                if child is not None:
                    refs.update(self._scope_values(child))
        return refs


def merge_traced(into: Traced, other: Traced) -> None:
    for ref, kind in other.items():
        into[ref] = stronger(into.get(ref), kind)


def stronger(current: str | None, new: str) -> str:
    return new if current is None else compose(current, new)
