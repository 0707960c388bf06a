"""AuditEvent and LoadRecord: what changed, who decided, what arrived."""

from __future__ import annotations

import graphene

from registry.api.pagination import CountedConnection
from registry.api.visibility import audit_text, load_reason


class AuditEvent(graphene.ObjectType):
    """An append-only, hash-chained audit event."""

    seq = graphene.Int(required=True, description="Sequence number in the chain.")
    ts = graphene.String(required=True, description="When (ISO 8601 UTC).")
    actor = graphene.String(required=True, description="Who (a person or an API token).")
    action = graphene.String(required=True, description="create, update, delete, access_denied, ...")
    entity_kind = graphene.String(required=True, description="Kind of the entity concerned.")
    entity_code = graphene.String(required=True, description="Code of the entity concerned.")
    reason = graphene.String(required=True, description="Why.")
    change_id = graphene.Int(description="The registry change it belongs to, if any.")
    before = graphene.String(description="The entity before (canonical JSON).")
    after = graphene.String(description="The entity after (canonical JSON).")
    hash = graphene.String(required=True, description="Hash of this event (covers the previous hash).")

    resolve_reason = staticmethod(audit_text("reason"))
    resolve_before = staticmethod(audit_text("before"))
    resolve_after = staticmethod(audit_text("after"))


class LoadRecord(graphene.ObjectType):
    """One departmental extract arriving: loaded, a duplicate, refused at the door, or blocked."""

    load_id = graphene.String(required=True, description="Stable id of the load.")
    dataset = graphene.String(required=True, description="Dataset code.")
    department = graphene.String(required=True, description="Providing department.")
    file = graphene.String(required=True, description="The file that arrived.")
    sha256 = graphene.String(required=True, description="Its content hash.")
    status = graphene.String(
        required=True,
        description="loaded; duplicate (content loaded before); rejected (refused at the door; "
        "quarantined unless still being written); blocked (a blocking expectation failed on the "
        "staged rows: the live table was kept, QA005)",
    )
    rows_in = graphene.Float(description="Rows read.")
    rows_loaded = graphene.Float(description="Rows loaded.")
    rows_rejected = graphene.Float(description="Rows rejected.")
    rule_code = graphene.String(description="Rule that rejected it, if any.")
    reason = graphene.String(
        description="Why it was rejected, if it was: in full (it may quote the file) to the provider and "
        "center admins; to others the rule, file name, line and registered columns only."
    )
    started_at = graphene.String(required=True, description="Start (ISO 8601 UTC).")
    finished_at = graphene.String(required=True, description="End (ISO 8601 UTC).")

    resolve_reason = staticmethod(load_reason())


class AuditEventConnection(CountedConnection):
    """A page of audit events, newest first."""

    class Meta:
        node = AuditEvent


class LoadRecordConnection(CountedConnection):
    """A page of load records, newest first."""

    class Meta:
        node = LoadRecord
