"""Load records: every extract that reached the door, loaded, rejected or a duplicate.

The pipelines write them; the CLI, the API and the demo summary read them. A load record is
not an entity change, so it is not an audit event; the rejection reason stays here, with the
quarantine path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import insert, select

from registry.store.db import Store
from registry.store.schema import loads


@dataclass(frozen=True, slots=True)
class LoadRecord:
    """What happened to one file at the door."""

    load_id: str
    dataset: str
    department: str
    file: str
    sha256: str
    size_bytes: int
    status: str  # loaded, duplicate, rejected (at the door), blocked (by its expectations)
    started_at: str
    finished_at: str
    rows_in: int | None = None
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    cast_failures: dict[str, int] = field(default_factory=dict)
    rule_code: str | None = None
    reason: str | None = None
    quarantined_to: str | None = None
    run_id: str | None = None


def record_load(store: Store, record: LoadRecord) -> None:
    row = asdict(record)
    row["cast_failures"] = json.dumps(record.cast_failures, ensure_ascii=False, sort_keys=True)
    with store.write() as conn:
        conn.execute(insert(loads).values(**row))


def find_loaded(store: Store, dataset: str, sha256: str) -> dict[str, Any] | None:
    """The load that already brought this exact content into this dataset, if any."""
    stmt = (
        select(loads)
        .where(loads.c.dataset == dataset, loads.c.sha256 == sha256, loads.c.status == "loaded")
        .order_by(loads.c.id.desc())
        .limit(1)
    )
    with store.read() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def known_sizes(store: Store, dataset: str) -> set[int]:
    """Sizes of the files already loaded into a dataset: a file of another size is new content."""
    stmt = select(loads.c.size_bytes).where(loads.c.dataset == dataset, loads.c.status == "loaded").distinct()
    with store.read() as conn:
        return {int(size) for (size,) in conn.execute(stmt)}


def list_loads(
    store: Store, *, dataset: str | None = None, department: str | None = None, limit: int = 1000
) -> Iterator[dict[str, Any]]:
    stmt = select(loads).order_by(loads.c.id.desc()).limit(limit)
    if dataset:
        stmt = stmt.where(loads.c.dataset == dataset)
    if department:
        stmt = stmt.where(loads.c.department == department)
    with store.read() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for row in rows:
        row["cast_failures"] = json.loads(row["cast_failures"] or "{}")
        yield row


def last_good_rows(store: Store, dataset: str) -> int | None:
    """Rows the dataset's last published load brought (the baseline of ``max_row_drop``)."""
    stmt = (
        select(loads.c.rows_loaded)
        .where(loads.c.dataset == dataset, loads.c.status == "loaded")
        .order_by(loads.c.id.desc())
        .limit(1)
    )
    with store.read() as conn:
        found = conn.execute(stmt).first()
    return int(found[0]) if found and found[0] is not None else None
