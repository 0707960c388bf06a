"""Read-side questions about a registry: who owns what, what an entity is connected to.

Pure functions over a :class:`Registry` (loaded from a home or rebuilt from the store), so the
CLI, the API and the tests ask the same questions the same way.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from registry.errors import Problem
from registry.home import Registry
from registry.rules import check_rules

CONFLICT_CODES = frozenset({"GOV005", "GOV006", "GOV007", "GOV020", "GOV021", "GOV022", "GOV029"})


def owners(r: Registry) -> list[dict[str, Any]]:
    """Per department: elements owned (by security level), datasets provided, agreements."""
    owned: dict[str, Counter[str]] = {code: Counter() for code in r.departments}
    for element in r.elements.values():
        owned.setdefault(element.owner, Counter())[str(element.security)] += 1
    provided = Counter(ds.provider for ds in r.datasets.values())
    consumed = Counter(a.consumer for a in r.agreements.values())
    out = []
    for code, levels in sorted(owned.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        dept = r.departments.get(code)
        out.append(
            {
                "department": code,
                "name": dept.name if dept else None,
                "name_en": dept.name_en if dept else None,
                "elements": sum(levels.values()),
                "by_security": dict(sorted(levels.items())),
                "datasets": provided.get(code, 0),
                "agreements_as_consumer": consumed.get(code, 0),
                "known": dept is not None,
            }
        )
    return out


def conflicts(r: Registry, today: date | None = None) -> list[Problem]:
    """Duplicate collections, unowned or orphaned elements, and other one-source findings."""
    return [p for p in check_rules(r, today) if p.code in CONFLICT_CODES]


def element_detail(r: Registry, code: str) -> dict[str, Any] | None:
    element = r.elements.get(code)
    if element is None:
        return None
    datasets = [
        {
            "dataset": ds.code,
            "provider": ds.provider,
            "column": col.name,
            "role": "source" if ds.provider == element.owner else ("replica" if col.replica else "duplicate"),
        }
        for ds in r.datasets.values()
        for col in ds.columns
        if col.element == code
    ]
    grants = [
        a.code
        for a in r.agreements.values()
        if code in a.elements
        or any(code in [c.element for c in r.datasets[d].columns] for d in a.datasets if d in r.datasets)
    ]
    services = [s.code for s in r.services.values() if any(i.element == code for i in s.elements)]
    return {"element": element.spec(), "datasets": datasets, "agreements": grants, "services": services}


def dataset_detail(r: Registry, code: str) -> dict[str, Any] | None:
    ds = r.datasets.get(code)
    if ds is None:
        return None
    columns = []
    for i, col in enumerate(ds.columns):
        element = r.elements.get(col.element)
        columns.append(
            {
                "column": col.name,
                "element": col.element,
                "element_name": element.name if element else None,
                "owner": element.owner if element else None,
                "type": str(element.type) if element else None,
                "security": str(element.security) if element else None,
                "personal": str(element.personal) if element else None,
                "required": r.column_required(ds, i),
                "replica": col.replica,
            }
        )
    return {
        "dataset": ds.spec(),
        "security": str(r.dataset_security(ds)),
        "personal": str(r.dataset_personal(ds)),
        "sharing": str(r.dataset_sharing(ds)),
        "columns": columns,
    }


def department_detail(r: Registry, code: str) -> dict[str, Any] | None:
    dept = r.departments.get(code)
    if dept is None:
        return None
    return {
        "department": dept.spec(),
        "children": sorted(c for c, d in r.departments.items() if d.parent == code),
        "owns": sorted(c for c, e in r.elements.items() if e.owner == code),
        "provides": sorted(c for c, d in r.datasets.items() if d.provider == code),
        "consumes": sorted(c for c, a in r.agreements.items() if a.consumer == code),
        "views": sorted(c for c, v in r.views.items() if v.owner == code),
        "services": sorted(c for c, s in r.services.items() if s.department == code),
    }
