"""A loaded registry: every entity by code, plus what follows from them.

>>> r = Registry.empty()
>>> r.count()
0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from registry.model import (
    ENTITY_TYPES,
    Agreement,
    CodeList,
    Dataset,
    Department,
    Element,
    Indicator,
    Service,
    Settings,
    Spec,
    View,
)
from registry.vocab import PersonalInfo, SecurityLevel, SharingType, did_you_mean, strictest


@dataclass(frozen=True)
class Registry:
    """All declarations of one registry home (or one store), keyed by code."""

    settings: Settings
    departments: Mapping[str, Department]
    codelists: Mapping[str, CodeList]
    elements: Mapping[str, Element]
    datasets: Mapping[str, Dataset]
    views: Mapping[str, View]
    indicators: Mapping[str, Indicator]
    agreements: Mapping[str, Agreement]
    services: Mapping[str, Service]
    home: Path | None = field(default=None, compare=False)
    declared_twice: frozenset[str] = field(default=frozenset(), compare=False)
    """Element codes declared more than once (GOV001): held by no one, so checks of what refers
    to them stay quiet instead of calling them unregistered."""
    rejected: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)
    """(section, code) of entities declared with errors (YAML002/YAML003 on the declaration): not
    in the registry, but declared, so checks of what refers to them stay quiet too: the error on
    the declaration is the finding, "unknown element" elsewhere would be its echo."""

    def is_declared(self, section: str, code: str) -> bool:
        """Whether ``code`` is declared in ``section``, even if its declaration was rejected
        (broken, or an element declared twice): references to it are then no finding of their own.

        >>> Registry.empty().is_declared("elements", "uscc")
        False
        """
        if code in self.section(section):
            return True
        return (section == "elements" and code in self.declared_twice) or (section, code) in self.rejected

    def did_you_mean(self, section: str, code: str) -> str:
        """``; did you mean 'x'?`` naming the declared code closest to a misspelt reference, or ''.

        >>> Registry.empty().did_you_mean("elements", "usc")
        ''
        """
        declared = [*self.section(section), *(c for s, c in self.rejected if s == section)]
        if section == "elements":
            declared += self.declared_twice
        guess = did_you_mean(code, declared)
        return f"; did you mean '{guess}'?" if guess else ""

    @classmethod
    def empty(cls) -> Registry:
        return cls.build(Settings(), {})

    @classmethod
    def build(
        cls,
        settings: Settings,
        sections: Mapping[str, Mapping[str, Spec]],
        home: Path | None = None,
        *,
        declared_twice: frozenset[str] = frozenset(),
        rejected: frozenset[tuple[str, str]] = frozenset(),
    ) -> Registry:
        frozen = {name: MappingProxyType(dict(sections.get(name, {}))) for name in ENTITY_TYPES}
        return cls(
            settings=settings,
            home=home,
            declared_twice=declared_twice,
            rejected=rejected,
            **frozen,  # type: ignore[arg-type]
        )

    def section(self, name: str) -> Mapping[str, Spec]:
        section: Mapping[str, Spec] = getattr(self, name)
        return section

    def sections(self) -> Iterator[tuple[str, Mapping[str, Spec]]]:
        for name in ENTITY_TYPES:
            yield name, self.section(name)

    def count(self) -> int:
        return sum(len(entities) for _, entities in self.sections())

    # --- what follows from the declarations -------------------------------------------------
    def dataset_security(self, dataset: Dataset) -> SecurityLevel:
        """就高从严: the highest level of the declared one and of every item."""
        levels = [self.elements[c.element].security for c in dataset.columns if c.element in self.elements]
        if dataset.security is not None:
            levels.append(dataset.security)
        return strictest(levels) or SecurityLevel.PUBLIC

    def dataset_personal(self, dataset: Dataset) -> PersonalInfo:
        flags = [self.elements[c.element].personal for c in dataset.columns if c.element in self.elements]
        return strictest(flags) or PersonalInfo.NONE

    def dataset_sharing(self, dataset: Dataset) -> SharingType:
        """The effective sharing type: the declared one or, when stricter, that of an item."""
        types = [self.elements[c.element].sharing for c in dataset.columns if c.element in self.elements]
        if dataset.sharing is not None:
            types.append(dataset.sharing)
        return strictest(types) or SharingType.UNCONDITIONAL

    def column_required(self, dataset: Dataset, column_index: int) -> bool:
        column = dataset.columns[column_index]
        if column.required is not None:
            return column.required
        if column.name in dataset.key or column.element in dataset.key:
            return True
        element = self.elements.get(column.element)
        return bool(element and element.required)

    @cached_property
    def providers(self) -> Mapping[str, tuple[str, ...]]:
        """Element code → codes of the datasets that carry it."""
        out: dict[str, list[str]] = {}
        for dataset in self.datasets.values():
            for column in dataset.columns:
                out.setdefault(column.element, []).append(dataset.code)
        return {k: tuple(v) for k, v in out.items()}

    def specs(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Section → code → canonical spec: what the store keeps and plan compares."""
        return {name: {code: e.spec() for code, e in entities.items()} for name, entities in self.sections()}
