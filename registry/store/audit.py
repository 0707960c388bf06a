"""The append-only, hash-chained audit log.

Each event carries the hash of the one before it, and its own hash covers every field, so an
edited, inserted or deleted event breaks the chain. ``audit_head`` holds the last sequence
number and hash, so a truncated tail is caught too. Appending locks the head row (``FOR UPDATE``
on PostgreSQL; SQLite's write transaction is already exclusive).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from registry.store.schema import audit_events, audit_head

GENESIS = "0" * 64
_FIELDS = (
    "seq",
    "ts",
    "actor",
    "action",
    "entity_kind",
    "entity_code",
    "reason",
    "change_id",
    "before",
    "after",
    "prev_hash",
)


def now() -> str:
    """The current time as ISO 8601 UTC text with microseconds (the store's time format)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_hash(event: dict[str, Any]) -> str:
    parts = ("" if event.get(f) is None else str(event[f]) for f in _FIELDS)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: what happened to which entity, by whom and why."""

    action: str
    entity_kind: str
    entity_code: str
    before: str | None = None
    after: str | None = None


def append_events(
    conn: Connection,
    events: Iterable[NewEvent],
    *,
    actor: str,
    reason: str,
    change_id: int | None,
    ts: str | None = None,
) -> int:
    """Append events in order, continuing the chain; returns how many were written."""
    head = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    stamp = ts or now()
    rows = []
    for ev in events:
        seq += 1
        row = {
            "seq": seq,
            "ts": stamp,
            "actor": actor,
            "action": ev.action,
            "entity_kind": ev.entity_kind,
            "entity_code": ev.entity_code,
            "reason": reason,
            "change_id": change_id,
            "before": ev.before,
            "after": ev.after,
            "prev_hash": prev,
        }
        row["hash"] = prev = event_hash(row)
        rows.append(row)
    if not rows:
        return 0
    conn.execute(insert(audit_events), rows)
    if head is None:
        conn.execute(insert(audit_head).values(id=1, seq=seq, hash=prev))
    else:
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    return len(rows)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of verifying the chain: how many events, and what is wrong, if anything."""

    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(conn: Connection, batch: int = 5000) -> ChainReport:
    """Recompute every hash and link; report each break with its sequence number."""
    problems: list[str] = []
    expected_seq, prev, count = 1, GENESIS, 0
    last_seq = 0
    while True:
        rows = (
            conn.execute(
                select(audit_events)
                .where(audit_events.c.seq > last_seq)
                .order_by(audit_events.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        for row in rows:
            count += 1
            if row["seq"] != expected_seq:
                problems.append(
                    f"event {expected_seq}–{row['seq'] - 1} missing (deleted?)"
                    if row["seq"] > expected_seq
                    else f"event {row['seq']} out of order"
                )
            if row["prev_hash"] != prev:
                problems.append(f"event {row['seq']}: link to the previous event is broken")
            if event_hash(dict(row)) != row["hash"]:
                problems.append(f"event {row['seq']}: content does not match its hash (edited?)")
            prev, expected_seq, last_seq = row["hash"], row["seq"] + 1, row["seq"]
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if head is None and count:
        problems.append("audit head is missing")
    elif head is not None and (head.seq != last_seq or head.hash != prev):
        problems.append(
            f"audit head points at event {head.seq} but the log ends at {last_seq} "
            "(events deleted from the end?)"
        )
    return ChainReport(count, tuple(problems))


def query_events(
    conn: Connection,
    *,
    kind: str | None = None,
    code: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> Iterator[dict[str, Any]]:
    """Events filtered by entity, actor, action and time (ISO text bounds, inclusive)."""
    stmt: Select[Any] = select(audit_events)
    for column, value in (
        (audit_events.c.entity_kind, kind),
        (audit_events.c.entity_code, code),
        (audit_events.c.actor, actor),
        (audit_events.c.action, action),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since:
        stmt = stmt.where(audit_events.c.ts >= since)
    if until:
        stmt = stmt.where(audit_events.c.ts <= until)
    order = audit_events.c.seq.desc() if newest_first else audit_events.c.seq
    for row in conn.execute(stmt.order_by(order).limit(limit)).mappings():
        yield dict(row)


def count_events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())
