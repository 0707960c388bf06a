"""Lineage of a registry's views and indicators, parsed against the registry's own schema.

Dataset tables have their element codes as columns; a view's columns are what its SQL outputs.
Views are parsed in dependency order, so a view reading another view resolves ``*`` and
unqualified columns against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from lineage.models import ColumnEdge, StatementLineage
from lineage.parse import extract_lineage
from lineage.tables import tables_read
from registry.home import Registry
from registry.model import Indicator, View


@dataclass(frozen=True)
class QueryLineage:
    """The parsed lineage of one view or indicator."""

    kind: str  # view or indicator
    code: str
    owner: str
    dialect: str
    statements: tuple[StatementLineage, ...]

    @property
    def status(self) -> str:
        statuses = {s.status for s in self.statements} or {"failed"}
        return "failed" if "failed" in statuses else "partial" if "partial" in statuses else "ok"

    @property
    def edges(self) -> tuple[ColumnEdge, ...]:
        return tuple(e for s in self.statements for e in s.columns)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({t for s in self.statements for t in s.sources}))


def _order(registry: Registry) -> list[View]:
    """Views so that each comes after the views it reads."""
    views = dict(registry.views)
    reads = {}
    for code, view in views.items():
        try:
            reads[code] = {t for t in tables_read(view.query or "", view.dialect) if t in views and t != code}
        except Exception:  # an unparseable view is ordered anywhere; its lineage reports the failure
            reads[code] = set()
    ordered: list[View] = []
    done: set[str] = set()
    while len(done) < len(views):
        ready = [c for c in sorted(views) if c not in done and reads[c] <= done]
        if not ready:  # a cycle: keep going, lineage will be partial
            ready = [next(c for c in sorted(views) if c not in done)]
        for code in ready:
            ordered.append(views[code])
            done.add(code)
    return ordered


@dataclass(frozen=True)
class RegistryLineage:
    """Every view's and indicator's lineage, with the schema they were resolved against."""

    registry: Registry

    @cached_property
    def _parsed(self) -> tuple[dict[str, list[str]], dict[str, QueryLineage]]:
        schema: dict[str, list[str]] = {
            code: [c.element for c in ds.columns] for code, ds in self.registry.datasets.items()
        }
        out: dict[str, QueryLineage] = {}
        queries: list[View | Indicator] = [*_order(self.registry), *self.registry.indicators.values()]
        for query in queries:
            kind = "view" if isinstance(query, View) else "indicator"
            statements = extract_lineage(query.query or "", query.dialect, schema, default_target=query.code)
            out[f"{kind}:{query.code}"] = QueryLineage(
                kind, query.code, query.owner, query.dialect, tuple(statements)
            )
            if kind == "view":
                columns = sorted(
                    {e.target.column for s in statements for e in s.columns if e.target.table == query.code}
                )
                outputs = _outputs(statements, query.code) or columns
                if outputs:
                    schema[query.code] = outputs
        return schema, out

    @property
    def schema(self) -> dict[str, list[str]]:
        return self._parsed[0]

    @property
    def queries(self) -> dict[str, QueryLineage]:
        return self._parsed[1]

    def view(self, code: str) -> QueryLineage | None:
        return self.queries.get(f"view:{code}")

    def edges(self) -> list[tuple[QueryLineage, ColumnEdge]]:
        return [(q, e) for q in self.queries.values() for e in q.edges]


def _outputs(statements: list[StatementLineage], target: str) -> list[str]:
    """Output column names in order, as the last statement writing ``target`` produced them."""
    for statement in reversed(statements):
        if target in statement.targets and statement.outputs:
            return list(statement.outputs)
    return []
