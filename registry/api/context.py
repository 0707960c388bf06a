"""The context of one GraphQL request: who asks, the request's connection and loaders, and the
visibility (``registry.api.visibility``) that decides what the asker may see.

What is restricted, and for whom, is decided in ``registry.api.visibility`` alone. A denial is a
``FORBIDDEN`` error on that field (the rest of the answer stands) and an ``access_denied`` audit
event, written once per request, field and entity, and aggregated across requests by the server's
``DenialLog``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, func, select

from registry.api.errors import ApiError, ErrorCode
from registry.api.loaders import Loaders
from registry.api.pacing import Denial, DenialLog
from registry.api.visibility import CENTER_ADMIN, Visibility
from registry.home import Registry
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
    denial_log: DenialLog | None = None

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

    def refresh(self) -> None:
        """After a mutation committed on its own connection: end the read snapshot and forget
        cached rows, so the rest of the request sees what was just written."""
        if self.conn.in_transaction():
            self.conn.rollback()
        self.__dict__.pop("loaders", None)
        self.__dict__.pop("visibility", None)

    def flush_denials(self) -> int:
        """Audit this request's denials: through the server's ``DenialLog`` (identical repeats
        aggregated), or, without one, one event each in one transaction."""
        if not self.denials:
            return 0
        if self.denial_log is None:
            self.denial_log = DenialLog(self.store, window=0.0)
        details = (("department", self.token.department), ("role", self.token.role))
        written = self.denial_log.record(
            [
                Denial(
                    f"token:{self.token.id}",
                    self.token.actor,
                    str(ErrorCode.FORBIDDEN),
                    kind,
                    code,
                    what,
                    message,
                    details,
                    # distinct reasons stay distinct events (a flood of them is capped per caller)
                    hashlib.sha256(message.encode("utf-8")).hexdigest()[:16],
                )
                for (kind, code, what), message in self.denials.items()
            ]
        )
        self.denials.clear()
        return written
