"""The metadata store's schema (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Each entity table keeps the canonical spec (JSON text, the thing ``plan`` compares and the audit
log records) beside the columns that queries filter and join on. Child tables (a dataset's
columns, an agreement's grants, ...) are rewritten with their parent. Migrations live in
``registry/migrations`` (Alembic); ``tests/test_store.py`` checks that they build exactly this.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

CODE = String(128)
NAME = String(400)
TS = String(32)  # ISO 8601 UTC text: identical on every backend, so audit hashes are too


def _entity(name: str, *extra: Column) -> Table:
    return Table(
        name,
        metadata,
        Column("code", CODE, primary_key=True),
        Column("name", NAME, nullable=True),
        Column("name_en", NAME, nullable=True),
        *extra,
        Column("spec", Text, nullable=False),
        Column("spec_hash", String(64), nullable=False),
        Column("change_id", Integer, ForeignKey("changes.id"), nullable=False),
        Column("updated_at", TS, nullable=False),
    )


changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", TS, nullable=False),
    Column("actor", NAME, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("summary", Text, nullable=False),
)

settings = _entity("settings")
departments = _entity("departments", Column("parent", CODE, nullable=True, index=True))
codelists = _entity("codelists")
elements = _entity(
    "elements",
    Column("owner", CODE, nullable=False, index=True),
    Column("data_type", String(16), nullable=False),
    Column("security", String(16), nullable=False),
    Column("personal", String(24), nullable=False),
    Column("sharing", String(16), nullable=False),
    Column("status", String(16), nullable=False),
)
datasets = _entity(
    "datasets",
    Column("provider", CODE, nullable=False, index=True),
    Column("classification", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("security", String(16), nullable=False),
    Column("personal", String(24), nullable=False),
    Column("sharing", String(16), nullable=False),
)
views = _entity("views", Column("owner", CODE, nullable=False, index=True), Column("query", Text))
indicators = _entity("indicators", Column("owner", CODE, nullable=False, index=True), Column("query", Text))
agreements = _entity(
    "agreements",
    Column("consumer", CODE, nullable=False, index=True),
    Column("provider", CODE, nullable=True),
    Column("status", String(16), nullable=False),
    Column("valid_from", String(10), nullable=False),
    Column("valid_to", String(10), nullable=True),
)
services = _entity("services", Column("department", CODE, nullable=False, index=True))

codelist_values = Table(
    "codelist_values",
    metadata,
    Column("codelist", CODE, ForeignKey("codelists.code", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("value", CODE, nullable=False),
    Column("label", NAME, nullable=False),
    Column("valid_from", String(10), nullable=True),
    Column("valid_to", String(10), nullable=True),
)
dataset_columns = Table(
    "dataset_columns",
    metadata,
    Column("dataset", CODE, ForeignKey("datasets.code", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("element", CODE, nullable=False, index=True),
    Column("required", Boolean, nullable=False),
    Column("is_key", Boolean, nullable=False),
    Column("replica", CODE, nullable=True),
)
agreement_grants = Table(
    "agreement_grants",
    metadata,
    Column("agreement", CODE, ForeignKey("agreements.code", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("element", CODE, nullable=True, index=True),
    Column("dataset", CODE, nullable=True, index=True),
)
service_elements = Table(
    "service_elements",
    metadata,
    Column("service", CODE, ForeignKey("services.code", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("element", CODE, nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("agreement", CODE, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", TS, nullable=False, index=True),
    Column("actor", NAME, nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("entity_kind", String(32), nullable=False),
    Column("entity_code", CODE, nullable=False),
    Column("reason", Text, nullable=False),
    Column("change_id", Integer, nullable=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_events_entity", audit_events.c.entity_kind, audit_events.c.entity_code)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),  # the head it signs
    Column("hash", String(64), nullable=False),  # the hash of event ``seq``
    Column("state", String(64), nullable=False),  # digest of the registry's rows at ``seq``
    Column("ts", TS, nullable=False),
    Column("public_key", String(64), nullable=False),  # which trusted key to try (not trusted itself)
    Column("signature", String(128), nullable=False),  # Ed25519 over the fields above
)

ENTITY_TABLES: dict[str, Table] = {
    "settings": settings,
    "departments": departments,
    "codelists": codelists,
    "elements": elements,
    "datasets": datasets,
    "views": views,
    "indicators": indicators,
    "agreements": agreements,
    "services": services,
}
"""Section → table, in dependency order."""

loads = Table(
    "loads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("load_id", String(40), nullable=False, unique=True),
    Column("dataset", CODE, nullable=False),
    Column("department", CODE, nullable=False, index=True),
    Column("file", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows_in", BigInteger, nullable=True),
    Column("rows_loaded", BigInteger, nullable=True),
    Column("rows_rejected", BigInteger, nullable=True),
    Column("cast_failures", Text, nullable=True),
    Column("rule_code", String(16), nullable=True),
    Column("reason", Text, nullable=True),
    Column("quarantined_to", Text, nullable=True),
    Column("run_id", String(64), nullable=True),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS, nullable=False),
)
Index("ix_loads_dataset_sha256", loads.c.dataset, loads.c.sha256)

quality_results = Table(
    "quality_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("validation_id", String(40), nullable=False, index=True),
    Column("run_id", String(64), nullable=True),
    Column("dataset", CODE, nullable=False),
    Column("department", CODE, nullable=False, index=True),
    Column("suite", String(128), nullable=False),
    Column("key", String(256), nullable=False),
    Column("expectation_type", String(128), nullable=False),
    Column("kwargs", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("element", CODE, nullable=True, index=True),
    Column("rule", String(32), nullable=True),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("element_count", BigInteger, nullable=True),
    Column("unexpected_count", BigInteger, nullable=True),
    Column("unexpected_percent", Float, nullable=True),
    Column("samples", Text, nullable=False),
    Column("message", Text, nullable=True),
    Column("validated_at", TS, nullable=False),
)
Index(
    "ix_quality_results_dataset_key",
    quality_results.c.dataset,
    quality_results.c.key,
    quality_results.c.validated_at,
)

lineage_statements = Table(
    "lineage_statements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin_kind", String(16), nullable=False),  # view, indicator, file
    Column("origin", Text, nullable=False),
    Column("department", CODE, nullable=True, index=True),
    Column("dialect", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("sql", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("line", Integer, nullable=True),
    Column("col", Integer, nullable=True),
    Column("sources", Text, nullable=False),
    Column("targets", Text, nullable=False),
    Column("change_id", Integer, nullable=True),
)
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("statement_id", Integer, ForeignKey("lineage_statements.id", ondelete="CASCADE"), nullable=False),
    Column("source_table", CODE, nullable=False),
    Column("source_column", CODE, nullable=False),
    Column("target_table", CODE, nullable=False),
    Column("target_column", CODE, nullable=False),
    Column("kind", String(16), nullable=False),
)
Index("ix_lineage_edges_source", lineage_edges.c.source_table, lineage_edges.c.source_column)
Index("ix_lineage_edges_target", lineage_edges.c.target_table, lineage_edges.c.target_column)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("department", CODE, nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("label", NAME, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", NAME, nullable=False),
    Column("revoked_at", TS, nullable=True),
    Column("last_used_at", TS, nullable=True),
)
