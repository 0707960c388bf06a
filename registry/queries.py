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
from registry.vocab import ServiceSource

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


def impact(r: Registry, edges: list[Any], element_code: str, depth: int = 10) -> dict[str, Any] | None:
    """From an element: the columns carrying it, everything downstream of them, the views and
    indicators affected, and every department that consumes any of it.

    A consumer is a department other than the owner that takes the element or something built
    on it: through an agreement (its elements, a dataset carrying it, a view affected), a replica
    or a collection of its own (a dataset of theirs carrying it), a service taking it from
    sharing, or a view or indicator of theirs that reads it. Each reason is named. Every
    downstream column lists all its ``sources``, the affected columns it is computed from
    (``from`` is the first one the walk reached).
    """
    from lineage.graph import LineageGraph, Node

    element = r.elements.get(element_code)
    if element is None:
        return None
    graph = LineageGraph(edges)
    columns = [Node(ds.code, element_code) for ds in r.datasets.values() if ds.column_for(element_code)]
    downstream: dict[Node, dict[str, Any]] = {}
    for start in columns:
        for step in graph.walk(start, "downstream", depth=depth):
            if step.depth == 0:
                continue
            entry = downstream.setdefault(
                step.node,
                {"column": str(step.node), "depth": step.depth, "via": set(), "from": str(step.parent)},
            )
            entry["via"] |= set(step.via)
            entry["depth"] = min(entry["depth"], step.depth)
    affected = set(columns) | set(downstream)
    for node, entry in downstream.items():
        entry["sources"] = sorted(str(n) for n in graph.neighbours(node, "upstream") if n in affected)
    tables = {n.table for n in downstream}
    views = sorted(t for t in tables if t in r.views)
    indicators = sorted(t for t in tables if t in r.indicators)
    datasets = sorted({n.table for n in columns})
    consumers: dict[str, set[str]] = {}

    def consumes(department: str, reason: str) -> None:
        if department != element.owner:
            consumers.setdefault(department, set()).add(reason)

    for agr in r.agreements.values():
        reasons = set()
        if element_code in agr.elements:
            reasons.add(f"element {element_code}")
        reasons |= {f"dataset {d}" for d in agr.datasets if d in datasets}
        reasons |= {f"view {v}" for v in agr.datasets if v in views}
        for reason in reasons:
            consumes(agr.consumer, f"{agr.code}: {reason}")
    for code in datasets:
        ds = r.datasets[code]
        for col in ds.columns:
            if col.element == element_code:
                kind = f"replica under {col.replica}" if col.replica else "own collection (duplicate)"
                consumes(ds.provider, f"dataset {code}.{col.name}: {kind}")
    for service in r.services.values():
        for item in service.elements:
            if item.element == element_code and item.source == ServiceSource.SHARING:
                under = f" under {item.agreement}" if item.agreement else ""
                consumes(service.department, f"service {service.code}: takes it from sharing{under}")
    for v in views:
        consumes(r.views[v].owner, f"view {v}: reads it")
    for i in indicators:
        consumes(r.indicators[i].owner, f"indicator {i}: reads it")
    return {
        "element": element_code,
        "name": element.name,
        "name_en": element.name_en,
        "owner": element.owner,
        "columns": [str(c) for c in columns],
        "downstream": [
            {**v, "via": sorted(v["via"])}
            for _, v in sorted(downstream.items(), key=lambda kv: (kv[1]["depth"], str(kv[0])))
        ],
        "views": views,
        "indicators": indicators,
        "view_owners": sorted(
            {r.views[v].owner for v in views} | {r.indicators[i].owner for i in indicators}
        ),
        "consumers": {d: sorted(x) for d, x in sorted(consumers.items())},
    }
