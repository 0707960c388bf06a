"""Agreements whose term has ended become ``expired`` in the store: audited, once.

An approved agreement stops being valid the day after its ``valid_to`` whatever its status says
(:meth:`registry.model.Agreement.is_valid_on`); marking it ``expired`` makes the store say so too,
for the API, the catalog and whoever reads the status column. It goes through
:func:`registry.store.apply.write_changes` like every other change: one change record, one audit
event per agreement (before and after), in one transaction. Running it again the same day, or the
next, finds nothing left and writes nothing.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from registry.plan import Change
from registry.store.apply import write_changes
from registry.store.db import Store
from registry.store.rows import canonical
from registry.store.schema import agreements
from registry.vocab import AgreementStatus

ACTOR = "govreg:expire_agreements"


def expire_agreements(
    store: Store, today: date, *, actor: str = ACTOR, source: str = "schedule"
) -> list[str]:
    """Mark every approved agreement that ended before ``today`` expired; returns their codes.

    The set is re-read inside the write transaction, so two runs at once expire each agreement once.
    """
    with store.write() as conn:
        rows = conn.execute(
            select(agreements.c.code, agreements.c.spec)
            .where(agreements.c.status == str(AgreementStatus.APPROVED))
            .where(agreements.c.valid_to.is_not(None))
            .order_by(agreements.c.code)
        ).all()
        changes: list[Change] = []
        notes: list[str] = []
        for code, before in rows:
            spec = json.loads(before)
            last = date.fromisoformat(spec["valid_to"])
            if spec.get("status") != AgreementStatus.APPROVED or last >= today:
                continue
            spec["status"] = str(AgreementStatus.EXPIRED)
            changes.append(Change("update", "agreements", code, before, canonical(spec)))
            notes.append(f"{code} (valid to {last.isoformat()})")
        if not changes:
            return []
        reason = f"term ended, not valid on {today.isoformat()}: {', '.join(notes)}"
        write_changes(conn, changes, actor=actor, reason=reason, source=source)
    return [c.code for c in changes]
