"""Where a view's ``declassify`` rule may lower a column's level: only where the data really changes.

A declassified column must be produced, on every path from each source column it carries, by
one of the changes govreg knows:

* ``aggregate``: a reducing aggregate (COUNT, SUM, AVG, STDDEV, VARIANCE, COUNT_IF, BOOL_OR,
  BOOL_AND, APPROX_COUNT_DISTINCT) over groups that are not an identifier — no GROUP BY column
  may be (part of) the key of the dataset it is read from, or carry personal information (each
  group would be one record or one person) — and no window (``OVER`` keeps every row).
  Aggregates that pick or collect single rows' values (MIN, MAX, FIRST, ANY_VALUE, ARG_MAX, MODE,
  MEDIAN, quantiles, LIST, STRING_AGG) are not.
* ``mask``: :data:`MASK_MACRO`, the DuckDB macro ``govreg_mask(v)`` that masks exactly like
  :func:`expectations.mask.mask` (keeps the ends that tell the kind of value).
* ``prefix``: ``left(v, n)`` or ``substr(v, 1, n)`` with ``n`` a literal no longer than the
  rule's declared ``length``.
* ``hash``: ``sha256(...)`` of the value together with ``getvariable('<salt>')``, the salt the
  rule declares (set in the warehouse session, never in the SQL).

A rule without ``method`` accepts ``aggregate`` or ``mask``. Anything else (TRIM, UPPER, CAST,
a suffix, a hash without the declared salt, a masked value joined back to the clear one) is
refused with the reason. The check walks the view's SQL through CTEs and subqueries; what it
cannot follow (set operations, subqueries in the column's expression, whole rows, column
patterns) is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope

from lineage.classification import base_classification
from lineage.models import ColumnRef
from lineage.names import sqlglot_schema
from lineage.scope import (
    ANALYTIC,
    ancestors_within,
    column_patterns,
    columns_outside_subqueries,
    in_pattern,
    owned_nodes,
    projections_of,
)
from lineage.script import KnownTables, Script
from lineage.trace import Tracer
from registry.home import Registry
from registry.model import Declassification, View
from registry.vocab import PersonalInfo

if TYPE_CHECKING:
    from lineage.propagate import Propagation

_S = "CAST(v AS VARCHAR)"
_N = f"length({_S})"
MASK_MACRO = (
    "CREATE OR REPLACE TEMP MACRO govreg_mask(v) AS (CASE WHEN v IS NULL THEN NULL "
    f"WHEN {_N} <= 1 THEN repeat('*', {_N}) "
    f"WHEN {_N} <= 4 THEN left({_S}, 1) || repeat('*', {_N} - 1) "
    f"WHEN {_N} <= 7 THEN left({_S}, 1) || repeat('*', {_N} - 2) || right({_S}, 1) "
    f"WHEN {_N} >= 12 THEN left({_S}, 4) || repeat('*', {_N} - 8) || right({_S}, 4) "
    f"ELSE left({_S}, 3) || repeat('*', {_N} - 6) || right({_S}, 3) END)"
)
"""``govreg_mask(v)``: :func:`expectations.mask.mask` in DuckDB (NULL stays NULL); a temporary
macro, defined on the connection that builds the views."""

MASK_FUNCTION = "govreg_mask"

REDUCING: tuple[type[exp.Expr], ...] = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
    exp.CountIf,
    exp.LogicalOr,
    exp.LogicalAnd,
    exp.ApproxDistinct,
)
"""Aggregates that compute a new value from many rows (not one row's value picked or collected)."""

ADVICE = (
    "only aggregation over groups that are not an identifier, govreg_mask, a prefix of the declared "
    "length or a hash with the declared salt may be declassified"
)


def refusal(registry: Registry, propagation: Propagation, view: View, rule: Declassification) -> str | None:
    """Why ``rule`` may not lower ``view``'s column, or None when the SQL really changes the data."""
    if rule.method == "prefix" and rule.length is None:
        return "method prefix needs the declared length"
    if rule.method == "hash" and not rule.salt:
        return "method hash needs the declared salt (getvariable('<salt>') in the hash)"
    try:
        parsed = [s for s in sqlglot.parse(view.query or "", read=view.dialect) if s is not None]
    except SqlglotError:
        return "the view's SQL does not parse"
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Query):
        return "only a view of one query can be declassified"
    script = Script(view.dialect, KnownTables(propagation.lineage.schema), view.code)
    try:
        qualified = qualify(
            parsed[0],
            dialect=view.dialect,
            schema=sqlglot_schema(script.relevant(parsed[0])) or None,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        root = build_scope(qualified)
    except Exception as exc:  # sqlglot raises plain errors on some constructs
        return f"the view's SQL cannot be followed ({exc.__class__.__name__})"
    if root is None:
        return "the view's SQL is not a query"
    tracer = Tracer({}, {}, script.schema)
    for scope in root.traverse():
        tracer.scopes.setdefault(id(scope.expression), scope)
    return _Checker(registry, propagation, rule, tracer).output(root, rule.column)


@dataclass
class _Checker:
    registry: Registry
    propagation: Propagation
    rule: Declassification
    tracer: Tracer
    memo: dict[tuple[int, str], str | None] = field(default_factory=dict)

    def output(self, scope: Scope, name: str) -> str | None:
        key = (id(scope), name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = "it is defined recursively"  # a recursive CTE: refused
        if scope.set_operation_scopes:
            result: str | None = "it comes from a set operation (UNION, EXCEPT), which is not followed"
        else:
            projection = next((s for s in projections_of(scope) if s.alias_or_name == name), None)
            if projection is None:
                result = f"'{name}' cannot be found in the query"
            else:
                result = self.expression(
                    scope, projection.this if isinstance(projection, exp.Alias) else projection
                )
        self.memo[key] = result
        return result

    def expression(self, scope: Scope, inner: exp.Expr) -> str | None:
        rows = [*column_patterns(inner), *owned_nodes(inner, exp.TableColumn)]
        rows += [c for c in owned_nodes(inner, exp.Column) if isinstance(c.this, exp.Star)]
        if rows:
            return f"{rows[0].sql()} reads a whole row or a column pattern"
        if any(True for _ in inner.find_all(exp.Subquery, exp.Select)):
            return "its expression reads a subquery, which is not followed"
        for column in columns_outside_subqueries(inner):
            if in_pattern(column, inner):
                continue
            verdict = self.protected(scope, column, inner)
            if verdict is True:
                continue
            if isinstance(verdict, str):
                return verdict
            source = self._source(scope, column)
            if isinstance(source, Scope) and source.scope_type != ScopeType.UDTF:
                found = self.output(source, column.name)
                if found:
                    return found
                continue
            where = f"{inner.sql()}" if len(inner.sql()) <= 60 else f"{inner.sql()[:57]}..."
            return f"{column.sql()} reaches it unchanged or only reshaped (as {where}); {ADVICE}"
        return None

    def _source(self, scope: Scope, column: exp.Column) -> Scope | exp.Table | None:
        if column.table:
            outer: Scope | None = scope
            while outer is not None:
                if column.table in outer.sources:
                    return outer.sources[column.table]
                outer = outer.parent
            return None
        if len(scope.sources) == 1:
            return next(iter(scope.sources.values()))
        return None

    def protected(self, scope: Scope, column: exp.Column, top: exp.Expr) -> bool | str | None:
        """True when a known change between ``column`` and ``top`` protects it; a str when the
        nearest change is not enough (the reason); None when nothing changes it here."""
        method = self.rule.method
        refused: str | None = None
        for node in ancestors_within(column, top):
            if isinstance(node, exp.AggFunc) and not isinstance(node, ANALYTIC):
                if method not in (None, "aggregate"):
                    refused = refused or f"it is aggregated, but the rule declares method '{method}'"
                    continue
                if not isinstance(node, REDUCING):
                    refused = refused or (
                        f"{node.sql()[:40]} picks or collects single rows' values; {ADVICE}"
                    )
                    continue
                parent = node.parent.parent if isinstance(node.parent, exp.Filter) else node.parent
                if isinstance(parent, exp.Window):
                    return f"{parent.sql()[:50]} is a window: it keeps every row, so nothing is aggregated"
                return self.groups(scope) or True
            name = _function_name(node)
            if name == MASK_FUNCTION:
                if method in (None, "mask"):
                    return True
                refused = refused or f"it is masked with govreg_mask, but the rule declares method '{method}'"
            elif name in ("left", "substring", "substr") and _in_this(column, node):
                verdict = self.prefix(node)
                if verdict is True:
                    return True
                refused = refused or str(verdict)
            elif name in ("sha256", "sha2"):
                if method != "hash":
                    refused = refused or "it is hashed: declare method hash and its salt to declassify a hash"
                elif not _uses_salt(node, self.rule.salt or ""):
                    refused = refused or (
                        f"{node.sql()[:50]} is not salted with the declared getvariable('{self.rule.salt}')"
                    )
                else:
                    return True
        return refused

    def prefix(self, node: exp.Expr) -> bool | str:
        if self.rule.method != "prefix":
            return "a prefix is declassified only with method prefix and a declared length"
        if isinstance(node, exp.Left):
            length = node.args.get("expression")
        else:
            start = node.args.get("start")
            if not (isinstance(start, exp.Literal) and start.this == "1"):
                return f"{node.sql()} does not start at the first character"
            length = node.args.get("length")
        if not (isinstance(length, exp.Literal) and length.is_int):
            return f"{node.sql()} keeps a length that is not a literal"
        if int(length.this) > (self.rule.length or 0):
            declared = self.rule.length
            return f"{node.sql()} keeps {length.this} characters, more than the declared length {declared}"
        return True

    def groups(self, scope: Scope) -> str | None:
        """Why the GROUP BY of ``scope`` makes each group one record or one person, if it does."""
        query = scope.expression
        group = query.args.get("group") if isinstance(query, exp.Select) else None
        if group is None:
            return None
        selects = projections_of(scope)
        items: list[exp.Expr] = [*group.expressions]  # and ROLLUP, CUBE, GROUPING SETS:
        items += [part for key in ("rollup", "cube", "grouping_sets") for part in group.args.get(key) or []]
        if group.args.get("all"):
            items += [p for p in selects if not p.find(exp.AggFunc)]
        for item in items:
            if isinstance(item, exp.Literal) and item.is_int and 0 < int(item.this) <= len(selects):
                item = selects[int(item.this) - 1]
            if owned_nodes(item, exp.TableColumn, exp.Columns) or isinstance(item, exp.Star):
                return f"it is grouped by a whole row ({item.sql()})"
            for column in item.find_all(exp.Column):
                for ref in self.tracer.column(scope, column):
                    why = self.identifying(ref)
                    if why:
                        return f"it is aggregated per {ref} (GROUP BY {item.sql()}), {why}: {ADVICE}"
        return None

    def identifying(self, ref: ColumnRef) -> str | None:

        classification = self.propagation.columns.get(ref) or base_classification(
            self.registry, ref.table, ref.column
        )
        elements = classification.elements if classification is not None else frozenset({ref.column})
        if classification is not None and classification.personal != PersonalInfo.NONE:
            return "personal information: each group is about one person"
        ds = self.registry.datasets.get(ref.table)
        if ds is not None:
            key = {c.element for c in ds.columns if c.name in ds.key or c.element in ds.key}
            if elements & key:
                return f"an identifier (the key of '{ds.code}'): each group is one record or its subject"
        return None


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.SHA2):
        length = node.args.get("length")
        return (
            "sha256"
            if length is None or (isinstance(length, exp.Literal) and length.this == "256")
            else "sha2"
        )
    if isinstance(node, exp.Left):
        return "left"
    if isinstance(node, exp.Substring):
        return "substring"
    return ""


def _in_this(column: exp.Column, node: exp.Expr) -> bool:
    """Whether ``column`` is in the value argument of ``node`` (not in a length or start)."""
    this = node.args.get("this")
    return isinstance(this, exp.Expr) and (this is column or any(n is column for n in this.walk()))


def _uses_salt(node: exp.Expr, salt: str) -> bool:
    for call in node.find_all(exp.Anonymous):
        if str(call.name).lower() == "getvariable" and call.expressions:
            first = call.expressions[0]
            if isinstance(first, exp.Literal) and first.is_string and first.this == salt:
                return True
    return False
