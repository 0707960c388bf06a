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


SEARCH_KINDS = ("department", "element", "dataset", "view", "indicator", "agreement", "service", "codelist")
"""What ``search`` and ``find`` look through, in the order hits of equal rank are listed."""

_SECTION = {kind: f"{kind}s" for kind in SEARCH_KINDS}

RANKS = ("code", "name", "prefix", "contains", "text")
"""How well a hit matches, best first: its code exactly; a name, synonym or identifier exactly;
a name beginning with the text; a name containing it; a description containing it."""


def _names(entity: Any) -> list[tuple[str, str]]:
    """(field, value) of every name an entity goes by: the ones a person would type."""
    names = [
        (f, getattr(entity, f, None)) for f in ("name", "name_en", "short_name", "uscc", "id", "catalog_code")
    ]
    names += [("synonyms", s) for s in getattr(entity, "synonyms", ())]
    return [(f, str(v)) for f, v in names if v]


def _texts(entity: Any) -> list[tuple[str, str]]:
    return [
        (f, str(getattr(entity, f)))
        for f in ("definition", "summary", "description", "purpose", "question")
        if getattr(entity, f, None)
    ]


def search(r: Registry, text: str, kinds: tuple[str, ...] = SEARCH_KINDS) -> list[dict[str, Any]]:
    """Every entity whose code, names (Chinese or English), synonyms, identifiers or description
    match ``text``, best match first (:data:`RANKS`), each with its kind, the field that matched
    and the rank. English is matched case-insensitively; Chinese as typed (a substring: no word
    segmentation is needed to find 信用代码 in 统一社会信用代码).

    >>> from registry.model import Department, Settings
    >>> r = Registry.build(Settings(), {"departments": {"tax": Department(code="tax", name="税务局",
    ...     name_en="Tax Service", short_name="市税务局")}})
    >>> [(h["code"], h["rank"], h["field"]) for h in search(r, "税务局")]
    [('tax', 'name', 'name')]
    >>> [(h["code"], h["rank"]) for h in search(r, "tax s")]
    [('tax', 'prefix')]
    """
    wanted = text.strip().casefold()
    if not wanted:
        return []
    hits: list[dict[str, Any]] = []
    for kind in kinds:
        for code, entity in r.section(_SECTION[kind]).items():
            best: tuple[int, str, str] | None = None
            candidates = [("code", code), *_names(entity)]
            for field, value in candidates:
                folded = value.casefold()
                if folded == wanted:
                    rank = 0 if field == "code" else 1
                elif folded.startswith(wanted):
                    rank = 2
                elif wanted in folded:
                    rank = 3
                else:
                    continue
                if best is None or rank < best[0]:
                    best = (rank, field, value)
            if best is None:
                for field, value in _texts(entity):
                    if wanted in value.casefold():
                        best = (4, field, value)
                        break
            if best is not None:
                hits.append(
                    {
                        "kind": kind,
                        "code": code,
                        "name": getattr(entity, "name", None),
                        "name_en": getattr(entity, "name_en", None),
                        "rank": RANKS[best[0]],
                        "field": best[1],
                        "matched": best[2],
                        "_order": (best[0], SEARCH_KINDS.index(kind), code),
                    }
                )
    hits.sort(key=lambda h: h["_order"])
    for hit in hits:
        del hit["_order"]
    return hits


def find(r: Registry, text: str, kinds: tuple[str, ...] = SEARCH_KINDS) -> list[dict[str, Any]]:
    """The entities ``text`` names exactly: by code if one has it, else by any name, synonym or
    identifier (a unified social credit code, a catalogue code, an element id). More than one
    hit means the text is ambiguous; none, that nothing goes by it (``search`` then suggests).
    """
    hits = [h for h in search(r, text, kinds) if h["rank"] in ("code", "name")]
    by_code = [h for h in hits if h["rank"] == "code"]
    return by_code or hits


def view_detail(r: Registry, code: str) -> dict[str, Any] | None:
    """A view or indicator: its SQL, owner, the datasets it reads and the agreements that grant them."""
    query = r.views.get(code) or r.indicators.get(code)
    if query is None:
        return None
    kind = "view" if code in r.views else "indicator"
    spec = query.spec()
    granted = sorted(c for c, a in r.agreements.items() if a.consumer == query.owner)
    return {kind: spec, "kind": kind, "agreements_of_owner": granted}


def agreement_detail(r: Registry, code: str) -> dict[str, Any] | None:
    """An agreement: its parties, grant, term and status, and the replicas and services it backs."""
    agreement = r.agreements.get(code)
    if agreement is None:
        return None
    replicas = [
        {"dataset": ds.code, "column": col.name, "element": col.element}
        for ds in r.datasets.values()
        for col in ds.columns
        if col.replica == code
    ]
    services = sorted(s.code for s in r.services.values() if any(i.agreement == code for i in s.elements))
    return {"agreement": agreement.spec(), "replicas": replicas, "services": services}
