"""Classification travels with the data: a derived column is at least as restricted as its sources.

A view column's effective security level and personal-information flag are the strictest of
its direct, transformation and aggregation sources (indirect edges carry no values). A level
is lowered only by a view's explicit ``declassify`` rule, and only on a column whose sources
are all aggregated or transformed (masked) — never on a direct copy. A view's effective sharing
type is the strictest of its inputs'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lineage.models import ColumnRef
from lineage.views import RegistryLineage
from registry.home import Registry
from registry.vocab import PersonalInfo, SecurityLevel, SharingType, strictest


@dataclass(frozen=True)
class Classification:
    """Where a column's values come from, and what follows for how it may be used."""

    security: SecurityLevel
    personal: PersonalInfo
    sharing: SharingType
    elements: frozenset[str]  # the data elements whose values reach the column
    paths: tuple[str, ...] = ()  # e.g. "tax_payment.tax_paid_amount -> enterprise_360.tax_paid_amount"
    declassified: str | None = None  # the reason, when a declassify rule applied


@dataclass(frozen=True)
class DeclassificationProblem:
    view: str
    column: str
    message: str


def _base(registry: Registry, table: str, column: str) -> Classification | None:
    ds = registry.datasets.get(table)
    if ds is None or ds.column_for(column) is None:
        return None
    element = registry.elements.get(column)
    if element is None:
        return None
    return Classification(element.security, element.personal, element.sharing, frozenset({element.code}))


def _combine(parts: list[Classification], paths: list[str]) -> Classification:
    if not parts:
        return Classification(SecurityLevel.PUBLIC, PersonalInfo.NONE, SharingType.UNCONDITIONAL, frozenset())
    return Classification(
        strictest([p.security for p in parts]) or SecurityLevel.PUBLIC,
        strictest([p.personal for p in parts]) or PersonalInfo.NONE,
        strictest([p.sharing for p in parts]) or SharingType.UNCONDITIONAL,
        frozenset().union(*(p.elements for p in parts)),
        tuple(sorted(set(paths))),
    )


@dataclass
class Propagation:
    """Effective classification of every view column, computed in dependency order."""

    registry: Registry
    lineage: RegistryLineage

    def __post_init__(self) -> None:
        self.columns: dict[ColumnRef, Classification] = {}
        self.problems: list[DeclassificationProblem] = []
        for key, query in self.lineage.queries.items():
            if query.kind != "view":
                continue
            view = self.registry.views[query.code]
            kinds: dict[str, set[str]] = {}
            parts: dict[str, list[Classification]] = {}
            paths: dict[str, list[str]] = {}
            for edge in query.edges:
                if edge.kind == "indirect" or edge.target.table != view.code:
                    continue
                source = self.columns.get(edge.source) or _base(
                    self.registry, edge.source.table, edge.source.column
                )
                column = edge.target.column
                kinds.setdefault(column, set()).add(edge.kind)
                if source is not None:
                    parts.setdefault(column, []).append(source)
                    trail = [f"{p} -> {edge.target}" for p in source.paths] or [
                        f"{edge.source} -> {edge.target}"
                    ]
                    paths.setdefault(column, []).extend(trail)
            for column in self.lineage.schema.get(view.code, []):
                self.columns[ColumnRef(view.code, column)] = _combine(
                    parts.get(column, []), paths.get(column, [])
                )
            for rule in view.declassify:
                ref = ColumnRef(view.code, rule.column)
                current = self.columns.get(ref)
                if current is None:
                    self.problems.append(
                        DeclassificationProblem(
                            view.code, rule.column, f"'{rule.column}' is not an output column"
                        )
                    )
                    continue
                if "direct" in kinds.get(rule.column, set()):
                    self.problems.append(
                        DeclassificationProblem(
                            view.code,
                            rule.column,
                            f"'{rule.column}' copies its source directly; only aggregated "
                            "or masked columns may be declassified",
                        )
                    )
                    continue
                self.columns[ref] = Classification(
                    rule.security or current.security,
                    rule.personal or current.personal,
                    current.sharing,
                    current.elements,
                    current.paths,
                    rule.reason,
                )
            del key

    def view_columns(self, view: str) -> Iterator[tuple[str, Classification]]:
        for ref, classification in self.columns.items():
            if ref.table == view:
                yield ref.column, classification

    def view_security(self, view: str) -> SecurityLevel:
        return strictest([c.security for _, c in self.view_columns(view)]) or SecurityLevel.PUBLIC

    def view_personal(self, view: str) -> PersonalInfo:
        return strictest([c.personal for _, c in self.view_columns(view)]) or PersonalInfo.NONE

    def view_sharing(self, view: str) -> SharingType:
        """The strictest sharing type of the view's inputs (datasets and views it reads)."""
        query = self.lineage.view(view)
        types: list[SharingType] = []
        for table in query.sources if query else ():
            if table in self.registry.datasets:
                types.append(self.registry.dataset_sharing(self.registry.datasets[table]))
            elif table in self.registry.views and table != view:
                types.append(self.view_sharing(table))
        return strictest(types) or SharingType.UNCONDITIONAL
