"""The context of one GraphQL request: who asks, the request's connection and loaders, and the
visibility (``registry.api.visibility``) that decides what the asker may see.

What is restricted, and for whom, is decided in ``registry.api.visibility`` alone. A denial is a
``FORBIDDEN`` error on that field (the rest of the answer stands) and an ``access_denied`` audit
event, written once per request, field and entity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, func, select

from registry.api.errors import ApiError, ErrorCode
from registry.api.loaders import Loaders
from registry.api.visibility import CENTER_ADMIN, Visibility
from registry.home import Registry
from registry.store import audit
from registry.store.db import Store
from registry.store.rows import registry_from_specs
from registry.store.schema import changes
from registry.store.tokens import Token

__all__ = ["CENTER_ADMIN", "STEWARD", "RegistryCache", "RequestContext"]

STEWARD = "steward"


class RegistryCache:
    """The registry rebuilt from the store, for whole-registry questions (impact, conflicts);
    rebuilt only when a new change has been applied."""

    def __init__(self, store: Store):
        self.store = store
        self._key: Any = object()
        self._registry: Registry | None = None

        self._errors: tuple[Registry, date, frozenset[tuple[str, str]]] | None = None

    def get(self, conn: Connection) -> Registry:
        key = conn.execute(select(func.max(changes.c.id))).scalar()
        if self._registry is None or key != self._key:
            self._registry = registry_from_specs(self.store.read_specs(conn))
            self._key = key
        return self._registry

    def errors(self, registry: Registry, today: date) -> frozenset[tuple[str, str]]:
        """(code, message) of every governance error of ``registry`` (cached for the last one)."""
        from registry.rules import check_rules

        cached = self._errors
        if cached is not None and cached[0] is registry and cached[1] == today:
            return cached[2]
        found = frozenset((p.code, p.message) for p in check_rules(registry, today) if p.is_error)
        self._errors = (registry, today, found)
        return found


@dataclass
class RequestContext:
    store: Store
    conn: Connection
    token: Token
    registries: RegistryCache
    today: date = field(default_factory=date.today)
    denials: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.conn)

    @property
    def is_admin(self) -> bool:
        return self.token.role == CENTER_ADMIN

    @cached_property
    def visibility(self) -> Visibility:
        """What this token may see: every resolver of restricted data asks it (one place)."""
        return Visibility(self)

    def deny(self, kind: str, code: str, what: str, message: str) -> ApiError:
        """Record a denial (audited when the request ends) and return the error to raise."""
        self.denials.setdefault((kind, code, what), message)
        return ApiError(ErrorCode.FORBIDDEN, message, entity=f"{kind}:{code}", field=what)

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise self.deny("api", what, what, f"{what} needs a center-admin token")

    def refresh(self) -> None:
        """After a mutation committed on its own connection: end the read snapshot and forget
        cached rows, so the rest of the request sees what was just written."""
        if self.conn.in_transaction():
            self.conn.rollback()
        self.__dict__.pop("loaders", None)
        self.__dict__.pop("visibility", None)

    def flush_denials(self) -> int:
        """Write this request's denials as audit events (one transaction)."""
        if not self.denials:
            return 0
        events = [
            audit.NewEvent(
                "access_denied",
                kind,
                code,
                None,
                json.dumps(
                    {"field": what, "department": self.token.department, "role": self.token.role},
                    ensure_ascii=False,
                ),
            )
            for (kind, code, what) in self.denials
        ]
        reason = "; ".join(sorted(set(self.denials.values())))[:2000]
        with self.store.write() as conn:
            written = audit.append_events(conn, events, actor=self.token.actor, reason=reason, change_id=None)
        self.denials.clear()
        return written
