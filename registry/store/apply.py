"""Apply a registry to the store: one transaction, one audit event per change.

The plan is recomputed inside the write transaction, so what is applied is exactly the
difference from what is stored at that moment. Any failure rolls everything back: entities,
child rows, the change record and the audit events alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, update

from registry.home import Registry
from registry.plan import Change, Plan, make_plan
from registry.store import audit
from registry.store.db import Store
from registry.store.rows import CHILD_TABLES, child_rows, digest, entity_columns, home_specs
from registry.store.schema import ENTITY_TABLES, changes, metadata


@dataclass(frozen=True, slots=True)
class ApplyResult:
    plan: Plan
    change_id: int | None
    events: int


def plan_registry(store: Store, registry: Registry) -> Plan:
    """What applying ``registry`` to ``store`` would change, without changing anything."""
    return make_plan(home_specs(registry), store.read_specs())


def apply_registry(
    store: Store,
    registry: Registry,
    *,
    actor: str,
    reason: str,
    source: str,
    fault: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Make the store hold exactly ``registry``; a no-op (no events) when it already does.

    ``fault`` is called between phases with the phase name; tests use it to fail mid-way and
    prove the rollback.
    """
    wanted = home_specs(registry)
    with store.write() as conn:
        plan = make_plan(wanted, store.read_specs(conn))
        if plan.is_empty:
            return ApplyResult(plan, None, 0)
        stamp = audit.now()
        change_id = conn.execute(
            insert(changes).values(
                ts=stamp, actor=actor, reason=reason, source=source, summary=json.dumps(plan.counts())
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        for index, change in enumerate(plan.changes):
            _write(conn, change, change_id, stamp)
            if fault and index == len(plan.changes) // 2:
                fault("entities")
        events = (audit.NewEvent(c.action, c.kind, c.code, c.before, c.after) for c in plan.changes)
        written = audit.append_events(conn, events, actor=actor, reason=reason, change_id=change_id, ts=stamp)
        if fault:
            fault("audit")
        return ApplyResult(plan, change_id, written)


def _write(conn: Connection, change: Change, change_id: int, stamp: str) -> None:
    table = ENTITY_TABLES[change.section]
    child = CHILD_TABLES.get(change.section)
    if child is not None and change.action != "create":
        child_table = metadata.tables[child[0]]
        conn.execute(delete(child_table).where(child_table.c[child[1]] == change.code))
    if change.action == "delete":
        conn.execute(delete(table).where(table.c.code == change.code))
        return
    assert change.after is not None
    spec = json.loads(change.after)
    values = {
        **entity_columns(change.section, spec),
        "spec": change.after,
        "spec_hash": digest(change.after),
        "change_id": change_id,
        "updated_at": stamp,
    }
    if change.action == "create":
        conn.execute(insert(table).values(code=change.code, **values))
    else:
        conn.execute(update(table).where(table.c.code == change.code).values(**values))
    rows: dict[str, list[dict[str, object]]] = {}
    for name, row in child_rows(change.section, change.code, spec):
        rows.setdefault(name, []).append(row)
    for name, batch in rows.items():
        conn.execute(insert(metadata.tables[name]), batch)
