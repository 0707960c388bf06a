"""The append-only, hash-chained audit log, with signed checkpoints and a replayable state.

Each event carries the hash of the one before it, and its own hash covers every field, so an
edited, inserted or deleted event breaks the chain. ``audit_head`` holds the last sequence
number and hash, so a truncated tail is caught too. Appending locks the head row (``FOR UPDATE``
on PostgreSQL; SQLite's write transaction is already exclusive).

A chain needs no secret, so whoever can write the store can rewrite it whole. Against that, every
append also writes a **checkpoint** in the same transaction: the new head's sequence number and
hash and a digest of the registry's rows, signed with the audit key (Ed25519, kept outside the
store: :mod:`registry.store.signing`). :func:`verify_audit` checks the chain, every checkpoint's
signature against keys trusted from outside the store, that the head is the last checkpoint, and
that the registry's tables are exactly what the log's events replay to. A store that was ever
signed refuses an append without the key (``AUD001``): nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, func, insert, select, update

from registry.store import signing
from registry.store.db import KEY_INFO
from registry.store.rows import CHILD_TABLES, KIND, child_rows, digest, entity_columns
from registry.store.schema import ENTITY_TABLES, audit_checkpoints, audit_events, audit_head, metadata

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
    write_checkpoint(conn, seq, prev, changes_state=any(_is_entity_change(r) for r in rows))
    return len(rows)


# --- signed checkpoints ---------------------------------------------------------------------

SECTION_OF_KIND = {kind: section for section, kind in KIND.items()}
ENTITY_ACTIONS = frozenset({"create", "update", "delete"})


def _is_entity_change(event: Any) -> bool:
    return event["action"] in ENTITY_ACTIONS and event["entity_kind"] in SECTION_OF_KIND


def checkpoint_message(seq: int, hash_: str, state: str, ts: str, public_key: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return f"govreg-audit-checkpoint/1\n{seq}\n{hash_}\n{state}\n{ts}\n{public_key}".encode("ascii")


def signing_key(conn: Connection) -> signing.AuditKey | None:
    resolve = conn.info.get(KEY_INFO)
    return resolve() if resolve is not None else None


def last_checkpoint(conn: Connection) -> dict[str, Any] | None:
    row = (
        conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def write_checkpoint(conn: Connection, seq: int, hash_: str, *, changes_state: bool = True) -> None:
    """Sign the head (``seq``, ``hash_``) and the registry's state, in the caller's transaction.

    Without a key: a store that holds a checkpoint refuses the write (:class:`AuditKeyError`,
    AUD001; the transaction rolls back, so nothing is written); a store never signed stays
    unsigned. The state digest is recomputed from the tables when the events changed an entity;
    otherwise (tokens, denials) the last checkpoint's digest is carried forward.
    """
    last = last_checkpoint(conn)
    key = signing_key(conn)
    if key is None:
        if last is not None:
            raise signing.AuditKeyError(
                f"this store's audit log is signed (last checkpoint at event {last['seq']}, key "
                f"{signing.fingerprint(last['public_key'])}) and no audit key is configured: set "
                f"{signing.ENV_KEY} or {signing.ENV_KEY_FILE} (or put the key in "
                f"{signing.DEFAULT_KEY_FILE}); nothing was written"
            )
        return
    state = state_digest(stored_leaves(conn)) if changes_state or last is None else last["state"]
    stamp = now()
    message = checkpoint_message(seq, hash_, state, stamp, key.public)
    conn.execute(
        insert(audit_checkpoints).values(
            seq=seq, hash=hash_, state=state, ts=stamp, public_key=key.public, signature=key.sign(message)
        )
    )


def require_audit_key(store: Any) -> None:
    """Raise :class:`AuditKeyError` (AUD001) if ``store``'s log is signed and it has no key: for
    servers, so they refuse to start rather than refuse every write."""
    with store.read() as conn:
        last = last_checkpoint(conn)
    if last is not None and store.audit_key() is None:
        raise signing.AuditKeyError(
            f"this store's audit log is signed (key {signing.fingerprint(last['public_key'])}) and no "
            f"audit key is configured: set {signing.ENV_KEY} or {signing.ENV_KEY_FILE} (or put the key in "
            f"{signing.DEFAULT_KEY_FILE})"
        )


# --- the registry's state, from the tables and from the log ---------------------------------

Leaves = dict[tuple[str, str], str]


def _leaf(row: dict[str, Any], children: dict[str, list[dict[str, Any]]]) -> str:
    """An entity's row (its spec by ``spec_hash``: verify checks the text against it) and children."""
    row = {k: v for k, v in row.items() if k != "spec"}
    text = json.dumps(
        {"row": row, "children": children},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_digest(leaves: Leaves) -> str:
    """One digest of every entity's row and child rows (sorted by section and code)."""
    h = hashlib.sha256()
    for (section, code), leaf in sorted(leaves.items()):
        h.update(f"{section}\x1f{code}\x1f{leaf}\n".encode())
    return h.hexdigest()


def _stored(
    conn: Connection, *, spec: bool = False
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, list[dict[str, Any]]]]]:
    """(section, code, row, children) of every stored entity, as the tables hold them (the spec
    text only if ``spec``: the state digest covers it through ``spec_hash``)."""
    for section, table in ENTITY_TABLES.items():
        kids: dict[str, dict[str, list[dict[str, Any]]]] = {}
        child = CHILD_TABLES.get(section)
        if child is not None:
            ct = metadata.tables[child[0]]
            for r in conn.execute(select(ct).order_by(ct.c[child[1]], ct.c.position)).mappings():
                kids.setdefault(r[child[1]], {}).setdefault(child[0], []).append(dict(r))
        columns = [c for c in table.columns if spec or c.name != "spec"]
        for r in conn.execute(select(*columns).order_by(table.c.code)).mappings():
            children: dict[str, list[dict[str, Any]]] = {child[0]: []} if child is not None else {}
            children.update(kids.pop(r["code"], {}))
            yield section, r["code"], dict(r), children
        for code, orphan in kids.items():  # child rows whose entity is gone
            yield section, code, {"code": None}, orphan


def stored_leaves(conn: Connection) -> Leaves:
    leaves: Leaves = {}
    for section, code, row, children in _stored(conn):
        key = (section, code)
        leaves[key] = _leaf(row, children) if key not in leaves else "orphan:" + _leaf(row, children)
    return leaves


def expected_rows(
    section: str, code: str, spec: str, change_id: int | None, ts: str
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The row and child rows ``apply`` writes for an entity with this spec, change and time."""
    data = json.loads(spec)
    table = ENTITY_TABLES[section]
    values = {
        "code": code,
        **entity_columns(section, data),
        "spec": spec,
        "spec_hash": digest(spec),
        "change_id": change_id,
        "updated_at": ts,
    }
    row = {c.name: values.get(c.name) for c in table.columns}
    child = CHILD_TABLES.get(section)
    children: dict[str, list[dict[str, Any]]] = {child[0]: []} if child is not None else {}
    for name, r in child_rows(section, code, data):
        children.setdefault(name, []).append(r)
    return row, children


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of verifying the chain: how many events, and what is wrong, if anything."""

    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def ordered_events(conn: Connection, batch: int = 5000) -> Iterator[RowMapping]:
    """Every audit event in sequence order, read ``batch`` at a time."""
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
            return
        yield from rows
        last_seq = rows[-1]["seq"]


def link_problems(row: RowMapping, expected_seq: int, prev: str) -> list[str]:
    """What is wrong with ``row`` as the event after ``prev`` at ``expected_seq`` in the chain."""
    seq = row["seq"]
    problems = []
    if seq != expected_seq:
        problems.append(
            f"event {expected_seq}–{seq - 1} missing (deleted?)"
            if seq > expected_seq
            else f"event {seq} out of order"
        )
    if row["prev_hash"] != prev:
        problems.append(f"event {seq}: link to the previous event is broken")
    if event_hash(dict(row)) != row["hash"]:
        problems.append(f"event {seq}: content does not match its hash (edited?)")
    return problems


def verify_chain(conn: Connection, batch: int = 5000) -> ChainReport:
    """Recompute every hash and link; report each break with its sequence number."""
    problems: list[str] = []
    expected_seq, prev, count = 1, GENESIS, 0
    last_seq = 0
    for row in ordered_events(conn, batch):
        count += 1
        problems.extend(link_problems(row, expected_seq, prev))
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


@dataclass
class AuditReport:
    """The outcome of :func:`verify_audit`: what was checked and every problem found, with where."""

    events: int = 0
    checkpoints: int = 0
    entities: int = 0
    key_source: str = ""
    signed: bool = False
    head: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "entities": self.entities,
            "signed": self.signed,
            "trusted_keys": self.key_source,
            "head": self.head,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


UNSIGNED = "unsigned: not tamper-evident against the store's writer"
_MAX_LISTED = 20


def _listed(problems: list[str], found: list[str], what: str) -> None:
    problems.extend(found[:_MAX_LISTED])
    if len(found) > _MAX_LISTED:
        problems.append(f"… and {len(found) - _MAX_LISTED} more {what}")


def _row_diff(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    return sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))


def verify_audit(
    conn: Connection,
    trusted: dict[str, Any],
    *,
    key_source: str = "",
    require_signature: bool = False,
    anchor: dict[str, Any] | None = None,
    batch: int = 5000,
) -> AuditReport:
    """Everything a store's writer alone cannot forge, checked:

    * the chain (every hash and link, the head at the last event);
    * every checkpoint: signed by a trusted key (``trusted``: public-key text → key, from outside
      the store), naming the event its hash is; the state it signs equals the log's replay there;
    * the head is the last checkpoint (events after it were appended without the key);
    * the registry's tables are what the events replay to, entity by entity (a row changed, added
      or deleted with no event is named);
    * ``anchor`` (a signed head kept elsewhere): the log still has that event with that hash, and
      replays to the state it signed.
    """
    report = AuditReport(key_source=key_source)
    problems = report.problems
    checkpoints = {r["seq"]: dict(r) for r in conn.execute(select(audit_checkpoints)).mappings()}
    report.checkpoints = len(checkpoints)
    report.signed = bool(checkpoints)
    if anchor is not None:
        _check_anchor_signature(anchor, trusted, problems)
    # signatures
    bad: list[str] = []
    for seq in sorted(checkpoints):
        cp = checkpoints[seq]
        where = f"checkpoint at event {seq}"
        key = trusted.get(cp["public_key"])
        if key is None:
            bad.append(
                f"{where}: signed by {signing.fingerprint(cp['public_key'])}, which is not a trusted key "
                f"({key_source or 'none given'}): re-signed by someone else?"
            )
        elif not signing.verify_signature(
            key, cp["signature"], checkpoint_message(seq, cp["hash"], cp["state"], cp["ts"], cp["public_key"])
        ):
            bad.append(f"{where}: the signature does not match its content (edited?)")
    _listed(problems, bad, "bad checkpoints")
    if checkpoints and not trusted:
        problems.append(
            "the audit log is signed but no trusted public key is configured: pass --public-key "
            f"(or set {signing.ENV_PUBLIC}, or the audit key) to verify it"
        )
    # the chain, replayed
    state: dict[tuple[str, str], tuple[str, int | None, str]] = {}  # → (spec, change_id, ts)
    leaves: Leaves = {}
    digest_now: str | None = state_digest(leaves)
    expected_seq, prev, last_seq = 1, GENESIS, 0
    chain: list[str] = []
    replay: list[str] = []
    states: list[str] = []
    for row in ordered_events(conn, batch):
        seq = row["seq"]
        report.events += 1
        chain.extend(link_problems(row, expected_seq, prev))
        prev, expected_seq, last_seq = row["hash"], seq + 1, seq
        if _is_entity_change(row):
            section = SECTION_OF_KIND[row["entity_kind"]]
            key = (section, row["entity_code"])
            had = state.get(key)
            if row["action"] == "create" and had is not None:
                replay.append(
                    f"event {seq}: creates {row['entity_kind']} {key[1]}, which the log already holds"
                )
            elif row["action"] != "create" and (had is None or had[0] != row["before"]):
                replay.append(
                    f"event {seq}: {row['action']} {row['entity_kind']} {key[1]} starts from a state "
                    "the log does not hold (its before differs)"
                )
            if row["after"] is None:
                state.pop(key, None)
                leaves.pop(key, None)
            else:
                state[key] = (row["after"], row["change_id"], row["ts"])
                try:
                    leaves[key] = _leaf(
                        *expected_rows(section, key[1], row["after"], row["change_id"], row["ts"])
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    replay.append(
                        f"event {seq}: its after is not a readable {row['entity_kind']} spec ({exc})"
                    )
            digest_now = None
        at = checkpoints.get(seq)
        at_anchor = anchor is not None and anchor.get("seq") == seq
        if at is not None or at_anchor:
            if digest_now is None:
                digest_now = state_digest(leaves)
            if at is not None and at["hash"] != row["hash"]:
                states.append(
                    f"checkpoint at event {seq}: signs hash {at['hash'][:12]}…, the event's is "
                    f"{row['hash'][:12]}… (the log was rewritten after it was signed)"
                )
            elif at is not None and at["state"] != digest_now:
                states.append(
                    f"checkpoint at event {seq}: the registry it signed is not what the log replays "
                    "to there (the tables were changed with no event before this write)"
                )
            if at_anchor:
                assert anchor is not None
                if anchor.get("hash") != row["hash"]:
                    problems.append(
                        f"anchor at event {seq}: the log's event {seq} has hash {row['hash'][:12]}…, "
                        f"the anchor {str(anchor.get('hash'))[:12]}…: the log was rewritten before the "
                        "anchor"
                    )
                elif anchor.get("state") != digest_now:
                    problems.append(
                        f"anchor at event {seq}: the log no longer replays to the registry the anchor signed"
                    )
    _listed(problems, chain, "chain breaks")
    _listed(problems, replay, "replay problems")
    _listed(problems, states, "checkpoint mismatches")
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if head is None and report.events:
        problems.append("audit head is missing")
    elif head is not None and (head.seq != last_seq or head.hash != prev):
        problems.append(
            f"audit head points at event {head.seq} but the log ends at {last_seq} "
            "(events deleted from the end?)"
        )
    if anchor is not None and isinstance(anchor.get("seq"), int) and anchor["seq"] > last_seq:
        problems.append(
            f"anchor at event {anchor['seq']}: the log ends at event {last_seq} (truncated or rewritten "
            "since the anchor was taken)"
        )
    # coverage: the head is the last signed checkpoint
    if checkpoints:
        top = max(checkpoints)
        report.head = _public(checkpoints[top])
        beyond = sorted(s for s in checkpoints if s > last_seq)
        if beyond:
            problems.append(
                f"checkpoint at event {beyond[-1]} signs events the log no longer has (the log ends at "
                f"{last_seq}: events deleted from the end)"
            )
        elif top < last_seq:
            problems.append(
                f"events {top + 1}–{last_seq} are not covered by a signed checkpoint (the last is at "
                f"event {top}): appended without the audit key, or forged"
            )
    elif trusted and (report.events or any(True for _ in _stored_codes(conn))):
        problems.append(
            f"the audit log has no signed checkpoint although a trusted key is configured ({key_source}): "
            "checkpoints deleted, or written without the key"
        )
    elif not trusted:
        report.notes.append(UNSIGNED)
        if require_signature:
            problems.append(f"{UNSIGNED} (--require-signature): sign it by writing with an audit key")
    # the tables against the replay
    stored = 0
    drift: list[str] = []
    seen: set[tuple[str, str]] = set()
    for section, code, have, children in _stored(conn, spec=True):
        key = (section, code)
        kind = KIND[section]
        if have.get("code") is None:
            drift.append(f"{kind} {code}: child rows with no {kind} row (added with no event?)")
            continue
        stored += 1
        seen.add(key)
        if key not in state:
            drift.append(f"{kind} {code}: in the store but not in the audit log (added with no event?)")
            continue
        if _leaf(have, children) == leaves.get(key) and have["spec"] == state[key][0]:
            continue
        want_row, want_children = expected_rows(section, code, *state[key])
        fields = _row_diff(want_row, have) + [f"{name} rows" for name in _row_diff(want_children, children)]
        drift.append(
            f"{kind} {code}: the stored row differs from what the audit log replays to "
            f"({', '.join(fields) or 'content'}): changed with no event?"
        )
    for section, code in sorted(state.keys() - seen):
        drift.append(
            f"{KIND[section]} {code}: in the audit log but not in the store (deleted with no event?)"
        )
    report.entities = stored
    _listed(problems, drift, "entities that differ from the log")
    return report


def _stored_codes(conn: Connection) -> Iterator[str]:
    for table in ENTITY_TABLES.values():
        yield from conn.execute(select(table.c.code).limit(1)).scalars()


def _public(cp: dict[str, Any]) -> dict[str, Any]:
    return {k: cp[k] for k in ("seq", "hash", "state", "ts", "public_key", "signature")}


def _check_anchor_signature(anchor: dict[str, Any], trusted: dict[str, Any], problems: list[str]) -> None:
    try:
        message = checkpoint_message(
            int(anchor["seq"]),
            str(anchor["hash"]),
            str(anchor["state"]),
            str(anchor["ts"]),
            str(anchor["public_key"]),
        )
        key = trusted.get(anchor["public_key"]) or signing.parse_public(str(anchor["public_key"]))
        good = signing.verify_signature(key, str(anchor["signature"]), message)
    except (KeyError, ValueError, TypeError, signing.AuditKeyError):
        problems.append("anchor: not a signed head (seq, hash, state, ts, public_key, signature)")
        return
    if not good:
        problems.append(
            f"anchor at event {anchor['seq']}: its signature does not match its content (edited?)"
        )


def anchor_of(conn: Connection) -> dict[str, Any] | None:
    """The signed head to keep elsewhere: the last checkpoint, if it is the head."""
    cp = last_checkpoint(conn)
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if cp is None or head is None or (head.seq, head.hash) != (cp["seq"], cp["hash"]):
        return None
    return _public(cp)


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
