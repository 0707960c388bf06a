"""What applying a registry home would change: a pure diff of canonical specs.

>>> old = {"elements": {"a": '{"name":"甲"}'}}
>>> new = {"elements": {"a": '{"name":"乙"}', "b": '{"name":"丙"}'}}
>>> [(c.action, c.code, c.fields) for c in make_plan(new, old).changes]
[('create', 'b', ()), ('update', 'a', ('name',))]
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from registry.errors import Location, Problem
from registry.store.rows import KIND, SECTIONS
from registry.vocab import STATUS_MOVES, Status

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entity created, updated or deleted, with its spec before and after."""

    action: Action
    section: str
    code: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        return KIND.get(self.section, self.section)

    @property
    def before_spec(self) -> dict[str, Any] | None:
        return json.loads(self.before) if self.before is not None else None

    @property
    def after_spec(self) -> dict[str, Any] | None:
        return json.loads(self.after) if self.after is not None else None

    @property
    def fields(self) -> tuple[str, ...]:
        """Top-level fields whose values differ (for an update)."""
        if self.action != "update":
            return ()
        before, after = self.before_spec or {}, self.after_spec or {}
        return tuple(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "kind": self.kind, "code": self.code}
        if self.action == "update":
            before, after = self.before_spec or {}, self.after_spec or {}
            out["fields"] = {f: {"before": before.get(f), "after": after.get(f)} for f in self.fields}
        else:
            out["before"] = self.before_spec
            out["after"] = self.after_spec
        return out


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a stored entity's last change came from, when that was the API (not a home in git)."""

    ts: str
    actor: str
    via: str  # the mutation, e.g. ``requestAccess``

    def describe(self) -> str:
        return f"made through the API on {self.ts[:10]} by {self.actor} ({self.via})"

    def to_json(self) -> dict[str, str]:
        return {"via": "api", "mutation": self.via, "actor": self.actor, "ts": self.ts}


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    # (section, code) → origin, for stored entities the API made or changed last
    origins: Mapping[tuple[str, str], Origin] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def origin(self, change: Change) -> Origin | None:
        return self.origins.get((change.section, change.code)) if change.action != "create" else None

    @property
    def api_made_deletes(self) -> tuple[Change, ...]:
        """Deletes of what the API made: ``apply`` refuses them without ``--prune`` (GOV037)."""
        return tuple(c for c in self.changes if c.action == "delete" and self.origin(c) is not None)

    def counts(self) -> dict[str, int]:
        counted = Counter(c.action for c in self.changes)
        return {action: counted.get(action, 0) for action in ("create", "update", "delete")}

    def to_json(self) -> dict[str, Any]:
        changes = []
        for change in self.changes:
            data = change.to_json()
            origin = self.origin(change)
            if origin is not None:
                data["origin"] = origin.to_json()
            changes.append(data)
        return {"counts": self.counts(), "changes": changes}


def make_plan(
    wanted: dict[str, dict[str, str]],
    current: dict[str, dict[str, str]],
    origins: Mapping[tuple[str, str], Origin] | None = None,
) -> Plan:
    """Diff canonical spec texts: section → code → text, as the home wants and as stored.

    Creates and updates come in dependency order (departments before the elements they own),
    deletes after them in reverse order, so each step leaves references intact.
    """
    upserts: list[Change] = []
    deletes: list[Change] = []
    for section in SECTIONS:
        want = wanted.get(section, {})
        have = current.get(section, {})
        for code in sorted(want.keys() - have.keys()):
            upserts.append(Change("create", section, code, None, want[code]))
        for code in sorted(want.keys() & have.keys()):
            if want[code] != have[code]:
                upserts.append(Change("update", section, code, have[code], want[code]))
    for section in reversed(SECTIONS):
        want = wanted.get(section, {})
        have = current.get(section, {})
        for code in sorted(have.keys() - want.keys()):
            deletes.append(Change("delete", section, code, have[code], None))
    return Plan(tuple(upserts + deletes), origins or {})


def status_moves(plan: Plan, locations: Mapping[str, Location] | None = None) -> list[Problem]:
    """GOV035 for each element the plan would move to a registration status the ISO/IEC 11179
    ladder does not allow from its stored one (:data:`registry.vocab.STATUS_MOVES`).

    It compares the wanted spec with the stored one, so it belongs where both are known: ``plan``
    shows these, ``apply`` and the API's mutations refuse them and change nothing. ``locations``
    (element code → where it is declared) places each problem in the home.
    """
    found: list[Problem] = []
    for change in plan.changes:
        if change.section != "elements" or change.action != "update":
            continue
        before = str((change.before_spec or {}).get("status") or Status.CANDIDATE)
        after = str((change.after_spec or {}).get("status") or Status.CANDIDATE)
        old, new = Status(before), Status(after)
        if old.may_become(new):
            continue
        allowed = ", ".join(sorted(STATUS_MOVES[old]))
        found.append(
            Problem(
                "GOV035",
                f"element '{change.code}' is {old} in the store and cannot become {new}: "
                f"from {old} it may become {allowed}",
                (locations or {}).get(change.code, Location()),
            )
        )
    return found
