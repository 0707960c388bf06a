"""Where a node sits in a query: the scope that owns it, the patterns and window specs around it,
the projections of a scope and their output names.

Helpers of the tracer (:mod:`lineage.trace`) and the script state (:mod:`lineage.script`); no
lineage is computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType

from lineage.names import column_name, table_name


class Owned:
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


def kind_in(node: exp.Expr, top: exp.Expr) -> str:
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


def outside_reader(table: exp.Table) -> str | None:
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


def array_joins(scope: Scope) -> dict[str, exp.Expr]:
    """The aliases of ClickHouse's ``ARRAY JOIN arr AS x`` in ``scope``: x is an element of arr."""
    joins = scope.expression.args.get("joins") if isinstance(scope.expression, exp.Select) else None
    out: dict[str, exp.Expr] = {}
    for join in joins or []:
        if str(join.args.get("kind") or "").upper() == "ARRAY":
            for item in [join.this, *(join.args.get("expressions") or [])]:
                if isinstance(item, exp.Alias):
                    out[item.alias] = item.this
    return out


def udtf_providing(scope: Scope, name: str) -> Scope | None:
    """The LATERAL VIEW / UNNEST of ``scope`` whose column alias list names ``name``."""
    for source in scope.sources.values():
        if isinstance(source, Scope) and source.scope_type == ScopeType.UDTF:
            alias = source.expression.args.get("alias")
            columns = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
            if name in columns:
                return source
    return None


def window_specs(node: exp.Expr) -> list[exp.Expr]:
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


def in_window_spec(column: exp.Column) -> bool:
    parent = column.parent
    while parent is not None and not isinstance(parent, exp.Query):
        if isinstance(parent, exp.Window):
            spec = [*(parent.args.get("partition_by") or []), parent.args.get("order")]
            # by identity: lagInFrame(started_at) OVER (ORDER BY started_at) reads started_at twice
            return any(s is not None and any(node is column for node in s.walk()) for s in spec)
        parent = parent.parent
    return False


def scope_of(scope: Scope, query: exp.Expr) -> Scope | None:
    target = query.this if isinstance(query, exp.Subquery) else query
    for child in scope.subquery_scopes:
        if child.expression is target:
            return child
    return None


def query_columns(query: exp.Expr) -> list[str] | None:
    """The output names of a derived table, or None when one is a star (not known here)."""
    selects = (
        query.this.selects if isinstance(query, exp.Subquery) and isinstance(query.this, exp.Query) else []
    )
    if not selects or any(
        isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in selects
    ):
        return None
    return [output_name(s) for s in selects]


def output_name(projection: exp.Expr) -> str:
    """An output's name as lineage reports it: an unquoted one lower-cased, whatever case the
    dialect normalizes it to (Snowflake upper-cases), a quoted one as written."""
    alias = projection.args.get("alias") if isinstance(projection, exp.Alias) else None
    if isinstance(alias, exp.Identifier):
        return column_name(alias)
    if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Identifier):
        return column_name(projection.this)
    return projection.alias_or_name


def first_scope(scope: Scope) -> Scope:
    while scope.set_operation_scopes:
        scope = scope.set_operation_scopes[0]
    return scope
