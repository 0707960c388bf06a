"""The root Query: catalog look-ups, search, lineage, impact, the data map, quality, conflicts, audit."""

from __future__ import annotations

import threading
from typing import Any

import graphene
from sqlalchemy import Select, and_, distinct, func, literal, or_, select

from registry.api.errors import ApiError, ErrorCode
from registry.api.pagination import list_page, page_args, sql_page
from registry.api.types.audit import AuditEventConnection, LoadRecordConnection
from registry.api.types.base import scores
from registry.api.types.catalog import (
    DataElement,
    DataElementConnection,
    Dataset,
    DatasetConnection,
    Department,
    DepartmentConnection,
)
from registry.api.types.derived import IndicatorConnection, ViewConnection
from registry.api.types.lineage import Lineage
from registry.api.types.quality import QualityScoreConnection
from registry.api.types.reports import ConflictConnection, DataFlowConnection, Impact
from registry.api.types.sharing import ServiceConnection, SharingAgreementConnection
from registry.store.schema import (
    agreement_grants,
    agreements,
    audit_events,
    dataset_columns,
    datasets,
    departments,
    elements,
    indicators,
    lineage_edges,
    loads,
    services,
    views,
)

MAX_LINEAGE_DEPTH = 10
Direction = graphene.Enum("LineageDirection", [("UPSTREAM", "upstream"), ("DOWNSTREAM", "downstream")])


class Me(graphene.ObjectType):
    """The token making this request."""

    department = graphene.String(required=True, description="The token's department.")
    role = graphene.String(required=True, description="center-admin, steward or reader.")
    actor = graphene.String(required=True, description="How this token appears in the audit log.")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _one(info: Any, loader: Any, kind: str, code: str) -> Any:
    row = loader.load(code)
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no {kind} {code!r}", entity=f"{kind}:{code}")
    return row


def _lineage(info: Any, node: str, direction: str, depth: int) -> dict[str, Any]:
    """Breadth-first, one IN query per level (never the whole edge table)."""
    if not 0 <= depth <= MAX_LINEAGE_DEPTH:
        raise ApiError(ErrorCode.INVALID, f"depth must be between 0 and {MAX_LINEAGE_DEPTH}")
    table, _, column = node.partition(".")
    column_level = bool(column)
    down = direction == "downstream"
    near_t, near_c = (lineage_edges.c.source_table, lineage_edges.c.source_column)
    far_t, far_c = (lineage_edges.c.target_table, lineage_edges.c.target_column)
    if not down:
        near_t, near_c, far_t, far_c = far_t, far_c, near_t, near_c
    start = (table, column or None)
    seen = {start}
    nodes: list[dict[str, Any]] = [
        {"node": node, "table": table, "column": column or None, "depth": 0, "via": [], "parent": None}
    ]
    edges: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    frontier = [start]
    for level in range(1, depth + 1):
        if not frontier:
            break
        tables = sorted({t for t, _ in frontier})
        stmt = select(lineage_edges).where(near_t.in_(tables))
        rows = info.context.conn.execute(stmt.order_by(lineage_edges.c.id)).mappings().all()
        wanted = set(frontier)
        reached: dict[tuple[str, str | None], dict[str, Any]] = {}
        for r in rows:
            here = (r[near_t.name], r[near_c.name] if column_level else None)
            there = (r[far_t.name], r[far_c.name] if column_level else None)
            if here not in wanted or there == here:
                continue
            edge = (r["source_table"], r["source_column"], r["target_table"], r["target_column"], r["kind"])
            edges[edge] = {
                "source_table": edge[0],
                "source_column": edge[1],
                "target_table": edge[2],
                "target_column": edge[3],
                "kind": edge[4],
            }
            if there in seen:
                continue
            entry = reached.setdefault(
                there,
                {
                    "node": f"{there[0]}.{there[1]}" if there[1] else there[0],
                    "table": there[0],
                    "column": there[1],
                    "depth": level,
                    "via": set(),
                    "parent": f"{here[0]}.{here[1]}" if here[1] else here[0],
                },
            )
            entry["via"].add(r["kind"])
        for key in sorted(reached, key=lambda k: (k[0], k[1] or "")):
            seen.add(key)
            nodes.append({**reached[key], "via": sorted(reached[key]["via"])})
        frontier = list(reached)
    return {
        "start": node,
        "direction": direction,
        "depth": depth,
        "nodes": nodes,
        "edges": list(edges.values()),
    }


def _flows(info: Any) -> list[dict[str, Any]]:
    """Department-to-department flows: granted by agreements, and held as replica or duplicate columns."""
    conn = info.context.conn
    granted = (
        select(
            elements.c.owner.label("provider_code"),
            agreements.c.consumer.label("consumer_code"),
            literal("agreement").label("kind"),
            func.count(distinct(elements.c.code)).label("elements"),
            elements.c.sharing,
        )
        .select_from(
            agreements.join(agreement_grants, agreement_grants.c.agreement == agreements.c.code).join(
                elements, elements.c.code == agreement_grants.c.element
            )
        )
        .where(agreements.c.status == "approved", elements.c.owner != agreements.c.consumer)
        .group_by(elements.c.owner, agreements.c.consumer, elements.c.sharing)
    )
    held = (
        select(
            elements.c.owner.label("provider_code"),
            datasets.c.provider.label("consumer_code"),
            func.coalesce(func.nullif(func.min(func.coalesce(dataset_columns.c.replica, "")), ""), "").label(
                "kind"
            ),
            func.count(distinct(elements.c.code)).label("elements"),
            elements.c.sharing,
        )
        .select_from(
            dataset_columns.join(datasets, datasets.c.code == dataset_columns.c.dataset).join(
                elements, elements.c.code == dataset_columns.c.element
            )
        )
        .where(elements.c.owner != datasets.c.provider)
        .group_by(
            elements.c.owner, datasets.c.provider, elements.c.sharing, dataset_columns.c.replica.is_(None)
        )
    )
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for stmt in (granted, held):
        for r in conn.execute(stmt).mappings():
            kind = r["kind"] if r["kind"] == "agreement" else ("replica" if r["kind"] else "duplicate")
            key = (r["provider_code"], r["consumer_code"], kind)
            entry = merged.setdefault(
                key,
                {
                    "provider_code": key[0],
                    "consumer_code": key[1],
                    "kind": kind,
                    "elements": 0,
                    "types": set(),
                },
            )
            entry["elements"] += r["elements"]
            entry["types"].add(r["sharing"])
    out = [{**v, "sharing_types": sorted(v.pop("types"))} for _, v in sorted(merged.items())]
    info.context.loaders.department.want(c for f in out for c in (f["provider_code"], f["consumer_code"]))
    return out


_CONFLICTS: list[Any] = [None, None, ()]  # registry, day, findings: the last report, computed once
_CONFLICTS_LOCK = threading.Lock()


def _conflicts_of(registry: Any, today: Any, compute: Any) -> tuple[Any, ...]:
    """The conflicts report of ``registry`` today, computed once per registry (every rule runs:
    it is the costliest resolver, and a request asking it again must not run them again)."""
    with _CONFLICTS_LOCK:
        if _CONFLICTS[0] is registry and _CONFLICTS[1] == today:
            return tuple(_CONFLICTS[2])
    found = tuple(compute(registry, today))
    with _CONFLICTS_LOCK:
        _CONFLICTS[:] = [registry, today, found]
    return found


class Query(graphene.ObjectType):
    """The catalog of the city's data architecture. Every field needs a bearer token."""

    me = graphene.Field(Me, required=True, description="The token making this request.")
    element = graphene.Field(
        DataElement, code=graphene.String(required=True), description="One element by code."
    )
    elements = graphene.Field(
        DataElementConnection,
        owner=graphene.String(description="Only elements of this owner."),
        security=graphene.String(description="Only elements at this security level."),
        description="Data elements, by code.",
        **page_args(),
    )
    dataset = graphene.Field(Dataset, code=graphene.String(required=True), description="One dataset by code.")
    datasets = graphene.Field(
        DatasetConnection,
        provider=graphene.String(description="Only datasets of this provider."),
        description="Datasets, by code.",
        **page_args(),
    )
    department = graphene.Field(
        Department, code=graphene.String(required=True), description="One department by code."
    )
    departments = graphene.Field(DepartmentConnection, description="Departments, by code.", **page_args())
    search = graphene.Field(
        DataElementConnection,
        text=graphene.String(required=True, description="Text to find (Chinese or English)."),
        description="Elements whose names, synonyms or definition contain the text "
        "(definitions and synonyms of core elements only where you may see them).",
        **page_args(),
    )
    lineage = graphene.Field(
        Lineage,
        node=graphene.String(required=True, description="``table`` or ``table.column``."),
        direction=graphene.Argument(Direction, default_value="downstream", description="Which way to walk."),
        depth=graphene.Int(default_value=3, description=f"Hops to follow (at most {MAX_LINEAGE_DEPTH})."),
        description="Lineage from a table (table level) or a column (column level).",
    )
    impact = graphene.Field(
        Impact,
        element_code=graphene.String(required=True, description="The element."),
        depth=graphene.Int(default_value=10, description="Hops downstream to follow."),
        description="Everything a change to an element touches.",
    )
    data_map = graphene.Field(
        DataFlowConnection, description="Department-to-department flows.", **page_args()
    )
    quality = graphene.Field(
        QualityScoreConnection,
        kind=graphene.String(default_value="dataset", description="dataset, department or element."),
        description="Quality scores, worst first.",
        **page_args(),
    )
    conflicts = graphene.Field(ConflictConnection, description="One-source findings.", **page_args())
    agreements = graphene.Field(SharingAgreementConnection, description="Sharing agreements.", **page_args())
    services = graphene.Field(ServiceConnection, description="Government services.", **page_args())
    views = graphene.Field(ViewConnection, description="Derived views.", **page_args())
    indicators = graphene.Field(IndicatorConnection, description="Indicators.", **page_args())
    loads = graphene.Field(
        LoadRecordConnection,
        dataset=graphene.String(description="Only loads of this dataset."),
        description="Extract loads, newest first.",
        **page_args(),
    )
    audit = graphene.Field(
        AuditEventConnection,
        entity_kind=graphene.String(description="Only events about this kind of entity."),
        entity_code=graphene.String(description="Only events about this entity."),
        action=graphene.String(description="Only events with this action."),
        description="The audit log, newest first (center admins; others see events about their own "
        "department's elements).",
        **page_args(),
    )

    @staticmethod
    def resolve_me(root: Any, info: Any) -> dict[str, str]:
        token = info.context.token
        return {"department": token.department, "role": token.role, "actor": token.actor}

    @staticmethod
    def resolve_element(root: Any, info: Any, code: str) -> Any:
        return _one(info, info.context.loaders.element, "element", code)

    @staticmethod
    def resolve_elements(
        root: Any,
        info: Any,
        owner: str | None = None,
        security: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Any:
        stmt = select(elements)
        if owner:
            stmt = stmt.where(elements.c.owner == owner)
        if security:
            stmt = stmt.where(elements.c.security == security)
        return sql_page(
            info,
            DataElementConnection,
            stmt.order_by(elements.c.code),
            first,
            after,
            info.context.loaders.elements_seen,
        )

    @staticmethod
    def resolve_dataset(root: Any, info: Any, code: str) -> Any:
        return _one(info, info.context.loaders.dataset, "dataset", code)

    @staticmethod
    def resolve_datasets(
        root: Any, info: Any, provider: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        stmt = select(datasets)
        if provider:
            stmt = stmt.where(datasets.c.provider == provider)
        return sql_page(
            info,
            DatasetConnection,
            stmt.order_by(datasets.c.code),
            first,
            after,
            info.context.loaders.datasets_seen,
        )

    @staticmethod
    def resolve_department(root: Any, info: Any, code: str) -> Any:
        return _one(info, info.context.loaders.department, "department", code)

    @staticmethod
    def resolve_departments(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return sql_page(
            info,
            DepartmentConnection,
            select(departments).order_by(departments.c.code),
            first,
            after,
            info.context.loaders.departments_seen,
        )

    @staticmethod
    def resolve_search(
        root: Any, info: Any, text: str, first: int | None = None, after: str | None = None
    ) -> Any:
        text = text.strip()
        if not text:
            raise ApiError(ErrorCode.INVALID, "search text is empty")
        pattern = _like(text)
        ctx = info.context
        names = or_(
            elements.c.name.like(pattern, escape="\\"),
            elements.c.name_en.ilike(pattern, escape="\\"),
            elements.c.code.like(pattern, escape="\\"),
        )
        in_spec: Any = elements.c.spec.ilike(pattern, escape="\\")
        visible = ctx.visibility.details_visible_sql()  # the spec holds the restricted details
        if visible is not None:
            in_spec = and_(in_spec, visible)
        stmt: Select[Any] = select(elements).where(or_(names, in_spec)).order_by(elements.c.code)
        return sql_page(info, DataElementConnection, stmt, first, after, ctx.loaders.elements_seen)

    @staticmethod
    def resolve_lineage(
        root: Any, info: Any, node: str, direction: str = "downstream", depth: int = 3
    ) -> Any:
        return _lineage(info, node, str(getattr(direction, "value", direction)), depth)

    @staticmethod
    def resolve_impact(root: Any, info: Any, element_code: str, depth: int = 10) -> Any:
        from registry.queries import impact
        from registry.store.lineage import read_edges

        registry = info.context.registries.get(info.context.conn)
        result = impact(registry, read_edges(info.context.store), element_code, depth=depth)
        if result is None:
            raise ApiError(
                ErrorCode.NOT_FOUND, f"no element {element_code!r}", entity=f"element:{element_code}"
            )
        return result

    @staticmethod
    def resolve_data_map(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return list_page(DataFlowConnection, _flows(info), first, after)

    @staticmethod
    def resolve_quality(
        root: Any, info: Any, kind: str = "dataset", first: int | None = None, after: str | None = None
    ) -> Any:
        if kind not in ("dataset", "department", "element"):
            raise ApiError(ErrorCode.INVALID, f"kind must be dataset, department or element, not {kind!r}")
        items = [s for (k, _), s in scores(info.context).items() if k == kind]
        items.sort(key=lambda s: (s.score is None, s.score if s.score is not None else 0, s.subject))
        return list_page(QualityScoreConnection, items, first, after)

    @staticmethod
    def resolve_conflicts(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        from registry.queries import conflicts

        registry = info.context.registries.get(info.context.conn)
        items = [
            {
                "code": p.code,
                "severity": str(p.severity),
                "message": p.message,
                "location": str(p.location),
                "hint": p.hint,
            }
            for p in _conflicts_of(registry, info.context.today, conflicts)
        ]
        return list_page(ConflictConnection, items, first, after)

    @staticmethod
    def resolve_agreements(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return sql_page(
            info,
            SharingAgreementConnection,
            select(agreements).order_by(agreements.c.code),
            first,
            after,
            info.context.loaders.agreements_seen,
        )

    @staticmethod
    def resolve_services(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return sql_page(
            info,
            ServiceConnection,
            select(services).order_by(services.c.code),
            first,
            after,
            info.context.loaders.services_seen,
        )

    @staticmethod
    def resolve_views(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return sql_page(info, ViewConnection, select(views).order_by(views.c.code), first, after)

    @staticmethod
    def resolve_indicators(root: Any, info: Any, first: int | None = None, after: str | None = None) -> Any:
        return sql_page(
            info, IndicatorConnection, select(indicators).order_by(indicators.c.code), first, after
        )

    @staticmethod
    def resolve_loads(
        root: Any, info: Any, dataset: str | None = None, first: int | None = None, after: str | None = None
    ) -> Any:
        stmt = select(loads)
        if dataset:
            stmt = stmt.where(loads.c.dataset == dataset)
        return sql_page(info, LoadRecordConnection, stmt.order_by(loads.c.id.desc()), first, after)

    @staticmethod
    def resolve_audit(
        root: Any,
        info: Any,
        entity_kind: str | None = None,
        entity_code: str | None = None,
        action: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Any:
        ctx = info.context
        stmt = select(audit_events)
        if not ctx.is_admin:
            own = select(elements.c.code).where(elements.c.owner == ctx.token.department)
            stmt = stmt.where(
                or_(
                    and_(audit_events.c.entity_kind == "element", audit_events.c.entity_code.in_(own)),
                    and_(
                        audit_events.c.entity_kind == "department",
                        audit_events.c.entity_code == ctx.token.department,
                    ),
                )
            )
        for column, value in (
            (audit_events.c.entity_kind, entity_kind),
            (audit_events.c.entity_code, entity_code),
            (audit_events.c.action, action),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        return sql_page(info, AuditEventConnection, stmt.order_by(audit_events.c.seq.desc()), first, after)
