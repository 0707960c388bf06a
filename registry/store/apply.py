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

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from registry.errors import DeclarationError, StoreError
from registry.home import Registry
from registry.plan import Change, Origin, Plan, make_plan, status_moves
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


API_SOURCE = "api:"  # the ``source`` of a change the API's mutations wrote (``api:<mutation>``)


class ApiMadeError(StoreError):
    """``apply`` would delete entities made (or last changed) through the API."""

    code = "GOV037"

    def __init__(self, plan: Plan):
        self.changes = plan.api_made_deletes
        listed = "; ".join(f"{c.kind} {c.code}: {plan.origin(c).describe()}" for c in self.changes[:10])  # type: ignore[union-attr]
        more = f"; … and {len(self.changes) - 10} more" if len(self.changes) > 10 else ""
        super().__init__(
            f"apply would delete {len(self.changes)} entit{'y' if len(self.changes) == 1 else 'ies'} made "
            f"through the API and not in the home ({listed}{more}): export them into the home "
            "(govreg export --yaml --out <home>) before apply, or pass --prune to delete them; "
            "nothing was changed"
        )


def api_origins(conn: Connection) -> dict[tuple[str, str], Origin]:
    """(section, code) → origin of every stored entity whose last change came through the API.

    Derived from the change each entity row points at (``change_id``): its ``source`` says who
    wrote it (a home's path for ``apply``, ``api:<mutation>`` for the API), its actor and time
    are the audit log's. Once a home holding the entity is applied with a different spec, or
    the entity is changed from git, the mark goes with the API's change.
    """
    out: dict[tuple[str, str], Origin] = {}
    for section, table in ENTITY_TABLES.items():
        rows = conn.execute(
            select(table.c.code, changes_table.c.ts, changes_table.c.actor, changes_table.c.source)
            .join(changes_table, changes_table.c.id == table.c.change_id)
            .where(changes_table.c.source.like(API_SOURCE + "%"))
        )
        for code, ts, actor, source in rows:
            out[(section, code)] = Origin(ts=ts, actor=actor, via=source[len(API_SOURCE) :])
    return out


def plan_registry(store: Store, registry: Registry) -> Plan:
    """What applying ``registry`` to ``store`` would change, without changing anything."""
    with store.read() as conn:
        return make_plan(home_specs(registry), store.read_specs(conn), api_origins(conn))


def apply_registry(
    store: Store,
    registry: Registry,
    *,
    actor: str,
    reason: str,
    source: str,
    prune: bool = False,
    fault: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Make the store hold exactly ``registry``; a no-op (no events) when it already does.

    An element moved to a registration status the ISO/IEC 11179 ladder does not allow from its
    stored one is refused (:class:`DeclarationError` with GOV035): nothing is written.

    What the API made and the home does not hold is not deleted unless ``prune``: the apply is
    refused (:class:`ApiMadeError`, GOV037) and the store is left as it was.
    ``fault`` is called between phases with the phase name; tests use it to fail mid-way and
    prove the rollback.
    """
    wanted = home_specs(registry)
    with store.write() as conn:
        plan = make_plan(wanted, store.read_specs(conn), api_origins(conn))
        if plan.is_empty:
            return ApplyResult(plan, None, 0)
        moves = status_moves(plan, {code: e.loc for code, e in registry.elements.items()})
        if moves:  # GOV035: a registration status the ladder does not allow; nothing is written
            raise DeclarationError(moves)
        if plan.api_made_deletes and not prune:
            raise ApiMadeError(plan)
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
