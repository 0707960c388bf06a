"""Governance at the door: an extract may carry only registered columns, and all required ones.

>>> from registry.model import Column, Dataset
>>> ds = Dataset.model_validate({"code": "d", "name": "甲", "name_en": "A", "provider": "p",
...     "columns": [{"name": "xm", "element": "person_name"}]})
>>> match_header(ds, ["xm"], {"xm"}).positions
{0: 0}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from registry.model import Dataset


@dataclass(frozen=True)
class HeaderMatch:
    """Dataset column index → position in the extract, and what is wrong with the header."""

    positions: dict[int, int]
    unknown: tuple[str, ...]
    missing_required: tuple[str, ...]
    duplicated: tuple[str, ...]


def match_header(dataset: Dataset, header: list[str], required: set[str]) -> HeaderMatch:
    """Match extract headers to declared columns by source name (or by element code)."""
    counts = Counter(header)
    duplicated = tuple(sorted(name for name, n in counts.items() if n > 1 and name))
    by_name: dict[str, int] = {}
    for i, column in enumerate(dataset.columns):
        by_name.setdefault(column.name, i)
        by_name.setdefault(column.element, i)
    positions: dict[int, int] = {}
    unknown: list[str] = []
    for position, name in enumerate(header):
        index = by_name.get(name)
        if index is None or index in positions:
            if index is None:
                unknown.append(name or f"(column {position + 1} has no header)")
            continue
        positions[index] = position
    missing = tuple(
        c.name for i, c in enumerate(dataset.columns) if i not in positions and c.name in required
    )
    return HeaderMatch(positions, tuple(unknown), missing, duplicated)
