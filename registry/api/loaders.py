"""Per-request batching loaders: the number of SQL queries does not grow with the result size.

A list resolver tells the loaders which keys its children will ask for (``want``); the first
``load`` of any key then fetches every wanted key at once with ``IN (...)``, and caches them for
the rest of the request. After a batch arrives, ``on_load`` may announce the next level's keys, so
a nested query costs one query per level and loader, whatever the page size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, and_, func, or_, select

from registry.store.schema import (
    agreement_grants,
    agreements,
    dataset_columns,
    datasets,
    departments,
    elements,
    quality_results,
    service_elements,
    services,
    views,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Row = dict[str, Any]
CHUNK = 10_000  # keys per IN (...): a page of 1,000 fits in one; SQLite takes 32,766, PostgreSQL 65,535


class Loader(Generic[K, V]):
    """Caches by key; fetches every pending key in one batch on the first miss."""

    def __init__(
        self,
        fetch: Callable[[Sequence[K]], Mapping[K, V]],
        default: Callable[[], V],
        on_load: Callable[[Iterable[V]], None] | None = None,
    ):
        self._fetch = fetch
        self._default = default
        self._on_load = on_load
        self._cache: dict[K, V] = {}
        self._pending: set[K] = set()

    def want(self, keys: Iterable[K | None]) -> None:
        self._pending.update(k for k in keys if k is not None and k not in self._cache)

    def load(self, key: K) -> V:
        if key not in self._cache:
            self._pending.add(key)
            keys = list(self._pending)
            self._pending.clear()
            loaded: list[V] = []
            for i in range(0, len(keys), CHUNK):
                chunk = keys[i : i + CHUNK]
                found = self._fetch(chunk)
                for k in chunk:
                    self._cache[k] = found.get(k, self._default())
                    loaded.append(self._cache[k])
            if self._on_load:
                self._on_load(loaded)
        return self._cache[key]

    def prime(self, key: K, value: V) -> None:
        self._cache.setdefault(key, value)


class PageLoader:
    """Pages of a parent's children (a department's elements, datasets, ...) for every parent at once.

    Parents are announced as they are seen; the first page asked for (with given ``first`` and
    ``after``) is fetched for all announced parents in one query, ``ROW_NUMBER()`` over each
    parent's children, and one more for their totals.
    """

    def __init__(
        self,
        conn: Connection,
        table: Any,
        parent: str,
        order: str = "code",
        on_load: Callable[[list[Row]], None] | None = None,
    ):
        self.conn = conn
        self.on_load = on_load
        self.table = table
        self.parent = parent
        self.order = order
        self.parents: set[str] = set()
        self._cache: dict[tuple[str, int, int], tuple[list[Row], int]] = {}

    def seen(self, codes: Iterable[str]) -> None:
        self.parents.update(codes)

    def page(self, code: str, start: int, size: int) -> tuple[list[Row], int]:
        """Up to ``size + 1`` children of ``code`` after the first ``start`` (the extra one tells
        whether there is a next page), and how many it has in all."""
        key = (code, start, size)
        if key not in self._cache:
            pending = sorted(
                (self.parents | {code}) - {c for c, s, z in self._cache if (s, z) == (start, size)}
            )
            for i in range(0, len(pending), CHUNK):
                self._fetch(pending[i : i + CHUNK], start, size)
        return self._cache[key]

    def _fetch(self, codes: Sequence[str], start: int, size: int) -> None:
        parent = self.table.c[self.parent]
        number = func.row_number().over(partition_by=parent, order_by=self.table.c[self.order]).label("_n")
        ranked = select(self.table, number).where(parent.in_(codes)).subquery()
        rows = self.conn.execute(
            select(ranked).where(ranked.c._n > start, ranked.c._n <= start + size + 1).order_by(ranked.c._n)
        ).mappings()
        found: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            row = dict(r)
            row.pop("_n", None)
            found[row[self.parent]].append(row)
        totals: dict[str, int] = dict(
            self.conn.execute(select(parent, func.count()).where(parent.in_(codes)).group_by(parent)).all()
        )
        for code in codes:
            self._cache[(code, start, size)] = (found.get(code, []), int(totals.get(code, 0)))
        if self.on_load:  # announce every parent's children at once: their own children batch too
            self.on_load([row for group in found.values() for row in group])


class Loaders:
    """The loaders of one request, sharing its one database connection."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.owned_elements = PageLoader(
            conn, elements, "owner", on_load=lambda rows: self.elements_seen(rows)
        )
        self.provided_datasets = PageLoader(
            conn, datasets, "provider", on_load=lambda rows: self.datasets_seen(rows)
        )
        self.consumed_agreements = PageLoader(
            conn, agreements, "consumer", on_load=lambda rows: self.agreements_seen(rows)
        )
        self.owned_views = PageLoader(conn, views, "owner")
        self.department_services = PageLoader(
            conn, services, "department", on_load=lambda rows: self.services_seen(rows)
        )
        self.department: Loader[str, Row | None] = Loader(
            self._by_code(departments), lambda: None, lambda rows: self.departments_seen(r for r in rows if r)
        )
        self.element: Loader[str, Row | None] = Loader(
            self._by_code(elements), lambda: None, lambda rows: self.elements_seen(r for r in rows if r)
        )
        self.dataset: Loader[str, Row | None] = Loader(
            self._by_code(datasets), lambda: None, lambda rows: self.datasets_seen(r for r in rows if r)
        )
        self.columns_of_dataset: Loader[str, list[Row]] = Loader(
            self._children(dataset_columns, "dataset"), list, self._columns_seen
        )
        self.columns_of_element: Loader[str, list[Row]] = Loader(
            self._children(dataset_columns, "element"), list, self._columns_seen
        )
        self.grants_of_agreement: Loader[str, list[Row]] = Loader(
            self._children(agreement_grants, "agreement"), list, self._grants_seen
        )
        self.elements_of_service: Loader[str, list[Row]] = Loader(
            self._children(service_elements, "service"),
            list,
            lambda groups: self.element.want(r["element"] for g in groups for r in g),
        )
        self.quality_of_dataset: Loader[str, list[Row]] = Loader(
            self._latest_quality, list, self._quality_seen
        )

    # --- announcing what children will ask for ----------------------------------------------
    def departments_seen(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        for row in rows:
            self.department.prime(row["code"], row)
        codes = [r["code"] for r in rows]
        for pages in (
            self.owned_elements,
            self.provided_datasets,
            self.consumed_agreements,
            self.owned_views,
            self.department_services,
        ):
            pages.seen(codes)

    def elements_seen(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        for row in rows:
            self.element.prime(row["code"], row)
        self.department.want(r["owner"] for r in rows)
        self.columns_of_element.want(r["code"] for r in rows)

    def datasets_seen(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        for row in rows:
            self.dataset.prime(row["code"], row)
        self.department.want(r["provider"] for r in rows)
        self.columns_of_dataset.want(r["code"] for r in rows)
        self.quality_of_dataset.want(r["code"] for r in rows)

    def agreements_seen(self, rows: Iterable[Row]) -> None:
        self.grants_of_agreement.want(r["code"] for r in rows)

    def services_seen(self, rows: Iterable[Row]) -> None:
        self.elements_of_service.want(r["code"] for r in rows)

    def _grants_seen(self, groups: Iterable[list[Row]]) -> None:
        grants = [g for group in groups for g in group]
        self.element.want(g["element"] for g in grants)
        self.dataset.want(g["dataset"] for g in grants)

    def _quality_seen(self, groups: Iterable[list[Row]]) -> None:
        """The elements a result's columns carry: its samples' visibility asks for them."""
        results = [r for group in groups for r in group]
        self.element.want(str(c) for r in results for c in [*(r["columns"] or []), r["element"]] if c)

    def _columns_seen(self, groups: Iterable[list[Row]]) -> None:
        columns = [c for group in groups for c in group]
        self.dataset.want(c["dataset"] for c in columns)
        self.element.want(c["element"] for c in columns)

    # --- fetchers --------------------------------------------------------------------------
    def _by_code(self, table: Any) -> Callable[[Sequence[str]], dict[str, Row]]:
        def fetch(codes: Sequence[str]) -> dict[str, Row]:
            rows = self.conn.execute(select(table).where(table.c.code.in_(codes))).mappings()
            return {r["code"]: dict(r) for r in rows}

        return fetch

    def _children(self, table: Any, key: str) -> Callable[[Sequence[str]], dict[str, list[Row]]]:
        def fetch(codes: Sequence[str]) -> dict[str, list[Row]]:
            out: dict[str, list[Row]] = defaultdict(list)
            stmt = select(table).where(table.c[key].in_(codes)).order_by(*table.primary_key.columns)
            for r in self.conn.execute(stmt).mappings():
                out[r[key]].append(dict(r))
            return out

        return fetch

    def _latest_quality(self, codes: Sequence[str]) -> dict[str, list[Row]]:
        """Each dataset's latest validation per suite, for all ``codes`` in one query."""
        rows = self.conn.execute(
            select(quality_results).where(quality_results.c.dataset.in_(codes)).order_by(quality_results.c.id)
        ).mappings()
        latest: dict[tuple[str, str], str] = {}
        grouped: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            latest[(r["dataset"], r["suite"])] = r["validation_id"]
            grouped[r["dataset"]].append(dict(r))
        out: dict[str, list[Row]] = {}
        for code, items in grouped.items():
            chosen = [item for item in items if latest[(code, item["suite"])] == item["validation_id"]]
            for item in chosen:
                item["samples"] = json.loads(item["samples"] or "[]")
                item["columns"] = json.loads(item["columns"] or "[]")
            out[code] = chosen
        return out

    def granted_elements(self, department: str, today: date) -> frozenset[str]:
        """Elements a department may see in full through an approved agreement valid today."""
        day = today.isoformat()
        live = and_(
            agreements.c.consumer == department,
            agreements.c.status == "approved",
            agreements.c.valid_from <= day,
            or_(agreements.c.valid_to.is_(None), agreements.c.valid_to >= day),
        )
        grant = agreement_grants.join(agreements, agreements.c.code == agreement_grants.c.agreement)
        direct = select(agreement_grants.c.element).select_from(grant).where(live)
        via_dataset = (
            select(dataset_columns.c.element)
            .select_from(grant.join(dataset_columns, dataset_columns.c.dataset == agreement_grants.c.dataset))
            .where(live)
        )
        rows = self.conn.execute(direct.union(via_dataset)).scalars()
        return frozenset(r for r in rows if r)
