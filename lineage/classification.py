"""A column's classification (security level, personal-information flag, sharing type, the
elements behind it), and a dataset column's own, before any lineage: what :mod:`lineage.propagate`
carries through views and :mod:`lineage.masking` checks a declassification against."""

from __future__ import annotations

from dataclasses import dataclass

from registry.home import Registry
from registry.model import Dataset
from registry.vocab import PersonalInfo, SecurityLevel, SharingType


@dataclass(frozen=True)
class Classification:
    """Where a column's values come from, and what follows for how it may be used."""

    security: SecurityLevel
    personal: PersonalInfo
    sharing: SharingType
    elements: frozenset[str]  # the data elements whose values reach the column
    paths: tuple[str, ...] = ()  # e.g. "tax_payment.tax_paid_amount -> enterprise_360.tax_paid_amount"
    declassified: str | None = None  # the reason, when a declassify rule applied
    unresolved: str | None = None  # why its sources are not all known (it then takes everything read)


STRICTEST = Classification(
    SecurityLevel.CORE, PersonalInfo.SENSITIVE_PERSONAL, SharingType.NOT_SHARED, frozenset()
)
"""What a table the registry does not declare may hold: anything."""


def dataset_of(registry: Registry, table: str) -> Dataset | None:
    """The dataset a warehouse table holds: its own, or its side tables' (``<dataset>__rejects``,
    ``<dataset>__blocked``: rows of the dataset set aside or held back, with their values)."""
    ds = registry.datasets.get(table)
    if ds is None and "__" in table:
        ds = registry.datasets.get(table.split("__", 1)[0])
    return ds


def base_classification(registry: Registry, table: str, column: str) -> Classification | None:
    """A dataset column's own classification: its element's, when the column carries one."""
    ds = dataset_of(registry, table)
    if ds is None or ds.column_for(column) is None:
        return None
    element = registry.elements.get(column)
    if element is None:
        return None
    return Classification(element.security, element.personal, element.sharing, frozenset({element.code}))
