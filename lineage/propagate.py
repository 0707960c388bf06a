"""Classification travels with the data: a derived column is at least as restricted as its sources.

A view's or indicator's column's effective security level and personal-information flag are the
strictest of its direct, transformation and aggregation sources (indirect edges carry no values).
It fails closed: a column whose sources are not all known (a column pattern, an UNPIVOT, a table
the statement reads without naming its columns) takes the strictest classification of every
table the statement reads — every element of them, their sharing type — with the reason. A level
is lowered only by a view's explicit ``declassify`` rule, and only on a column the data really
changes on the way to: an aggregation over groups that are not an identifier, or a masking
function govreg knows (:mod:`lineage.masking`). A view's effective sharing type is the strictest
of its inputs'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lineage.classification import STRICTEST, Classification, base_classification, dataset_of
from lineage.masking import refusal
from lineage.models import ColumnRef
from lineage.views import RegistryLineage
from registry.home import Registry
from registry.model import Declassification, View
from registry.vocab import PersonalInfo, SecurityLevel, SharingType, strictest


@dataclass(frozen=True)
class DeclassificationProblem:
    view: str
    column: str
    message: str


def _combine(parts: list[Classification], paths: list[str], unresolved: str | None = None) -> Classification:
    if not parts:
        return Classification(
            SecurityLevel.PUBLIC,
            PersonalInfo.NONE,
            SharingType.UNCONDITIONAL,
            frozenset(),
            unresolved=unresolved,
        )
    return Classification(
        strictest([p.security for p in parts]) or SecurityLevel.PUBLIC,
        strictest([p.personal for p in parts]) or PersonalInfo.NONE,
        strictest([p.sharing for p in parts]) or SharingType.UNCONDITIONAL,
        frozenset().union(*(p.elements for p in parts)),
        tuple(sorted(set(paths))),
        unresolved=unresolved,
    )


@dataclass
class Propagation:
    """Effective classification of every view column, computed in dependency order."""

    registry: Registry
    lineage: RegistryLineage

    def __post_init__(self) -> None:
        self.columns: dict[ColumnRef, Classification] = {}
        self.problems: list[DeclassificationProblem] = []
        self.undeclared: dict[str, set[str]] = {}  # query code → columns it reads the registry does not know
        for query in self.lineage.queries.values():
            code = query.code
            kinds: dict[str, set[str]] = {}
            parts: dict[str, list[Classification]] = {}
            paths: dict[str, list[str]] = {}
            unresolved: dict[str, tuple[str, tuple[str, ...]]] = {}  # column → (reason, tables read)
            for edge in query.edges:
                if edge.kind == "indirect" or edge.target.table != code:
                    continue
                source = self.columns.get(edge.source) or base_classification(
                    self.registry, edge.source.table, edge.source.column
                )
                column = edge.target.column
                kinds.setdefault(column, set()).add(edge.kind)
                if source is None and edge.source.table not in self.registry.views:
                    # a table or column the registry does not declare: it may hold anything
                    self.undeclared.setdefault(code, set()).add(str(edge.source))
                    unresolved[column] = (
                        f"reads {edge.source}, which the registry does not declare",
                        (edge.source.table,),
                    )
                if source is not None:
                    parts.setdefault(column, []).append(source)
                    trail = [f"{p} -> {edge.target}" for p in source.paths] or [
                        f"{edge.source} -> {edge.target}"
                    ]
                    paths.setdefault(column, []).extend(trail)
            for statement in query.statements:
                if code in statement.targets:
                    for column in statement.unresolved:
                        unresolved[column] = (statement.reason or "lineage not resolved", statement.sources)
            if query.kind == "view":
                columns = list(self.lineage.schema.get(code, []))
            else:
                columns = list(
                    dict.fromkeys(
                        [
                            *(c for s in query.statements if code in s.targets for c in s.outputs),
                            *kinds,
                            *unresolved,
                        ]
                    )
                )
            for column in [*columns, *(c for c in unresolved if c not in columns)]:
                why = None
                if column in unresolved:
                    why, tables = unresolved[column]
                    for table in tables:
                        if table == code:
                            continue
                        everything = self._everything(table)
                        parts.setdefault(column, []).extend(everything)
                        paths.setdefault(column, []).extend(
                            f"{table}.{e} -> {code}.{column} (unresolved)"
                            for c in everything
                            for e in sorted(c.elements)
                        )
                self.columns[ColumnRef(code, column)] = _combine(
                    parts.get(column, []), paths.get(column, []), why
                )
            view = self.registry.views.get(code) if query.kind == "view" else None
            if view is not None:
                for rule in view.declassify:
                    self._declassify(view, rule, kinds)

    def _everything(self, table: str) -> list[Classification]:
        """Every column's classification of a table, with the table's own level and sharing type."""
        ds = dataset_of(self.registry, table)
        if ds is not None:
            out = [
                c
                for c in (base_classification(self.registry, table, col.element) for col in ds.columns)
                if c is not None
            ]
            out.append(
                Classification(
                    ds.security or SecurityLevel.PUBLIC,
                    PersonalInfo.NONE,
                    self.registry.dataset_sharing(ds),
                    frozenset(),
                )
            )
            return out
        if table in self.registry.views:
            return [c for ref, c in self.columns.items() if ref.table == table]
        return [STRICTEST]

    def _declassify(self, view: View, rule: Declassification, kinds: dict[str, set[str]]) -> None:
        ref = ColumnRef(view.code, rule.column)
        current = self.columns.get(ref)
        if current is None:
            self._refuse(view, rule, f"'{rule.column}' is not an output column")
            return
        if current.unresolved:
            self._refuse(
                view, rule, f"'{rule.column}' has sources govreg cannot resolve ({current.unresolved})"
            )
            return
        if "direct" in kinds.get(rule.column, set()):
            self._refuse(
                view,
                rule,
                f"'{rule.column}' copies its source directly; only aggregated or masked columns may "
                "be declassified",
            )
            return
        refused = refusal(self.registry, self, view, rule)
        if refused:
            self._refuse(view, rule, f"'{rule.column}': {refused}")
            return
        self.columns[ref] = Classification(
            rule.security or current.security,
            rule.personal or current.personal,
            current.sharing,
            current.elements,
            current.paths,
            rule.reason,
        )

    def _refuse(self, view: View, rule: Declassification, message: str) -> None:
        self.problems.append(DeclassificationProblem(view.code, rule.column, message))

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
