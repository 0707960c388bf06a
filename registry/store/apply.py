"""Apply a registry to the store: one transaction, one audit event per change.

The plan is recomputed inside the write transaction, so what is applied is exactly the
difference from what is stored at that moment. Any failure rolls everything back: entities,
child rows, the change record and the audit events alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, update

from registry.errors import DeclarationError
from registry.home import Registry
from registry.plan import Change, Plan, make_plan, status_moves
from registry.store import audit
from registry.store.db import Store
from registry.store.lineage import write_registry_lineage
from registry.store.rows import CHILD_TABLES, child_rows, digest, entity_columns, home_specs
from registry.store.schema import ENTITY_TABLES, metadata
from registry.store.schema import changes as changes_table


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

    An element moved to a registration status the ISO/IEC 11179 ladder does not allow from its
    stored one is refused (:class:`DeclarationError` with GOV035): nothing is written.

    ``fault`` is called between phases with the phase name; tests use it to fail mid-way and
    prove the rollback.
    """
    wanted = home_specs(registry)
    with store.write() as conn:
        plan = make_plan(wanted, store.read_specs(conn))
        if plan.is_empty:
            return ApplyResult(plan, None, 0)
        moves = status_moves(plan, {code: e.loc for code, e in registry.elements.items()})
        if moves:  # GOV035: a registration status the ladder does not allow; nothing is written
            raise DeclarationError(moves)
        return write_changes(
            conn, plan.changes, actor=actor, reason=reason, source=source, registry=registry, fault=fault
        )


LINEAGE_SECTIONS = frozenset({"datasets", "views", "indicators"})


def write_changes(
    conn: Connection,
    changes: Sequence[Change],
    *,
    actor: str,
    reason: str,
    source: str,
    registry: Registry | None = None,
    fault: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Write planned changes inside the caller's write transaction: the change record, entity
    rows, child rows, lineage (re-derived from ``registry`` when a dataset, view or indicator
    changed) and one audit event per change. ``apply`` and the API's mutations both come here,
    so stored specs, child rows and the audit chain stay consistent whoever changes the registry.
    """
    plan = Plan(tuple(changes))
    if plan.is_empty:
        return ApplyResult(plan, None, 0)
    stamp = audit.now()
    change_id = conn.execute(
        insert(changes_table).values(
            ts=stamp, actor=actor, reason=reason, source=source, summary=json.dumps(plan.counts())
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    for (section, action), group in groupby(plan.changes, key=lambda c: (c.section, c.action)):
        _write(conn, section, action, list(group), change_id, stamp)
    if fault:
        fault("entities")
    if registry is not None and any(c.section in LINEAGE_SECTIONS for c in plan.changes):
        write_registry_lineage(conn, registry, change_id)  # derived from what was just written
    events = (audit.NewEvent(c.action, c.kind, c.code, c.before, c.after) for c in plan.changes)
    written = audit.append_events(conn, events, actor=actor, reason=reason, change_id=change_id, ts=stamp)
    if fault:
        fault("audit")
    return ApplyResult(plan, change_id, written)


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _write(
    conn: Connection, section: str, action: str, group: list[Change], change_id: int, stamp: str
) -> None:
    """Write a run of same-kind changes to one section, in batches (executemany)."""
    table = ENTITY_TABLES[section]
    child = CHILD_TABLES.get(section)
    codes = [c.code for c in group]
    if child is not None and action != "create":
        child_table = metadata.tables[child[0]]
        for chunk in _chunks(codes):
            conn.execute(delete(child_table).where(child_table.c[child[1]].in_(chunk)))
    if action == "delete":
        for chunk in _chunks(codes):
            conn.execute(delete(table).where(table.c.code.in_(chunk)))
        return
    rows = []
    children: dict[str, list[dict[str, object]]] = {}
    for change in group:
        assert change.after is not None
        spec = json.loads(change.after)
        rows.append(
            {
                **entity_columns(section, spec),
                "spec": change.after,
                "spec_hash": digest(change.after),
                "change_id": change_id,
                "updated_at": stamp,
                "code_": change.code,
            }
        )
        for name, row in child_rows(section, change.code, spec):
            children.setdefault(name, []).append(row)
    if action == "create":
        conn.execute(
            insert(table),
            [{**{k: v for k, v in r.items() if k != "code_"}, "code": r["code_"]} for r in rows],
        )
    else:
        values: dict[str, Any] = {k: bindparam(k) for k in rows[0] if k != "code_"}
        conn.execute(update(table).where(table.c.code == bindparam("code_")).values(values), rows)
    for name, batch in children.items():
        conn.execute(insert(metadata.tables[name]), batch)
