"""API bearer tokens: created once, stored hashed, revocable, audited.

A token is shown in plain text exactly once, when created; the store keeps only its SHA-256.
Verifying hashes the presented token and looks the hash up (the plain token never reaches a
comparison that could leak its prefix by timing). Every create and revoke is an audit event
written in the same transaction as the token row.

Roles: ``center-admin`` (the big-data center: sees and decides everything), ``steward`` (of one
department: requests access, decides its own department's conditional elements) and ``reader``
(of one department: reads the catalog).

The big-data center is the department ``registry.yaml`` names as ``center`` (stored with the
registry's settings). A center-admin token is issued only for that department, and none at all
while no center is named (fail closed); a center-admin token of any other department (issued
before the rule, or before the center changed) does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from registry.errors import StoreBusy, StoreError
from registry.store import audit
from registry.store.db import Store
from registry.store.schema import api_tokens, departments, settings

CENTER_ADMIN = "center-admin"
ROLES = (CENTER_ADMIN, "steward", "reader")
PREFIX = "grt_"
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is refreshed at most this often (no write per request)
TOUCH_WAIT = 0.5  # seconds a request waits to record last_used_at when the store is busy (then skips it)


@dataclass(frozen=True, slots=True)
class Token:
    """A stored token (never its plain text)."""

    id: int
    department: str
    role: str
    label: str | None
    created_at: str
    created_by: str
    revoked_at: str | None
    last_used_at: str | None

    @property
    def actor(self) -> str:
        """How the holder appears in the audit log: id, department, role and label (if any)."""
        base = f"token:{self.id}:{self.department}:{self.role}"
        return f"{base}:{self.label}" if self.label else base


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def _token(row: object) -> Token:
    return Token(**{f: getattr(row, f) for f in Token.__slots__})


def center_of(conn: Connection) -> str | None:
    """The big-data center's department code, as the stored registry settings name it (or None)."""
    spec = conn.execute(select(settings.c.spec).where(settings.c.code == "registry")).scalar()
    if spec is None:
        return None
    center = json.loads(spec).get("center")
    return center if isinstance(center, str) and center else None


def center_admin_refusal(conn: Connection, department: str) -> str | None:
    """Why ``department`` may not hold a center-admin token, or None when it is the center."""
    center = center_of(conn)
    if center is None:
        return (
            "center-admin tokens are for the big-data center's staff, and the registry names no center: "
            "set `center: <department code>` under `registry:` in registry.yaml and apply it; "
            "no center-admin token can be issued until then"
        )
    if department != center:
        return (
            f"center-admin tokens are for the big-data center's staff only: {department!r} is not the "
            f"center ({center!r}, `center` in registry.yaml); give it a steward or reader token"
        )
    return None


def create_token(
    store: Store, *, department: str, role: str, actor: str, reason: str, label: str | None = None
) -> tuple[Token, str]:
    """Create a token; returns it and its plain text (shown once, never stored)."""
    if role not in ROLES:
        raise StoreError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    plain = PREFIX + secrets.token_urlsafe(32)
    stamp = audit.now()
    with store.write() as conn:
        if conn.execute(select(departments.c.code).where(departments.c.code == department)).first() is None:
            raise StoreError(f"no department {department!r} in the store (apply the home first?)")
        if role == CENTER_ADMIN and (refusal := center_admin_refusal(conn, department)) is not None:
            raise StoreError(refusal)
        token_id = conn.execute(
            insert(api_tokens).values(
                token_hash=hash_token(plain),
                department=department,
                role=role,
                label=label,
                created_at=stamp,
                created_by=actor,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        after = json.dumps({"department": department, "role": role, "label": label}, ensure_ascii=False)
        audit.append_events(
            conn,
            [audit.NewEvent("token_create", "token", str(token_id), None, after)],
            actor=actor,
            reason=reason,
            change_id=None,
            ts=stamp,
        )
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
    return _token(row), plain


def revoke_token(store: Store, token_id: int, *, actor: str, reason: str) -> Token:
    """Revoke a token (idempotent refusal: revoking twice is an error, not a second event)."""
    stamp = audit.now()
    with store.write() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise StoreError(f"no token {token_id}")
        if row.revoked_at is not None:
            raise StoreError(f"token {token_id} was already revoked at {row.revoked_at}")
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=stamp))
        before = json.dumps({"department": row.department, "role": row.role, "revoked_at": None})
        after = json.dumps({"department": row.department, "role": row.role, "revoked_at": stamp})
        audit.append_events(
            conn,
            [audit.NewEvent("token_revoke", "token", str(token_id), before, after)],
            actor=actor,
            reason=reason,
            change_id=None,
            ts=stamp,
        )
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
    return _token(row)


def verify_token(store: Store, plain: str, conn: Connection | None = None) -> Token | None:
    """The live token matching ``plain``, or None (unknown, malformed or revoked, or a center-admin
    token of a department that is not the big-data center)."""
    if not plain.startswith(PREFIX) or len(plain) > 200:
        return None
    digest = hash_token(plain)
    if conn is None:
        with store.read() as own:
            return verify_token(store, plain, own)
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    if row.role == CENTER_ADMIN and center_admin_refusal(conn, row.department) is not None:
        return None
    return _token(row)


def touch_token(store: Store, token: Token) -> None:
    """Record use, at most once per ``TOUCH_EVERY`` per token."""
    now = datetime.now(UTC)
    if token.last_used_at is not None:
        last = datetime.fromisoformat(token.last_used_at.replace("Z", "+00:00"))
        if now - last < TOUCH_EVERY:
            return
    try:  # bookkeeping, not the request: a busy store is not kept waiting for it (tried again next use)
        with store.write(wait=TOUCH_WAIT) as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token.id).values(last_used_at=audit.now())
            )
    except StoreBusy:
        return


def list_tokens(store: Store) -> list[Token]:
    with store.read() as conn:
        return [_token(r) for r in conn.execute(select(api_tokens).order_by(api_tokens.c.id))]
