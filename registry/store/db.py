"""Opening the metadata store: engine set-up, schema migrations, transactions.

SQLite by default (WAL, foreign keys, a busy timeout, ``BEGIN IMMEDIATE`` for writers so two
applies serialise instead of deadlocking); any SQLAlchemy URL otherwise (PostgreSQL in
production). The schema is brought to the newest Alembic revision on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url

from registry.errors import StoreError
from registry.store.schema import ENTITY_TABLES
from registry.store.signing import AuditKey, configured_key

KEY_INFO = "govreg_audit_key"  # conn.info: a callable giving the key audit appends sign with
CONFIGURED = object()  # Store(audit_key=...) default: the key the environment configures

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
DEFAULT_URL = "sqlite:///.govreg/store.db"
WRITE_LOCK = int.from_bytes(b"govreg:w", "big")  # the advisory lock every write takes on PostgreSQL


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        writer = conn.get_execution_options().get("govreg_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Store:
    """The metadata store behind one SQLAlchemy URL."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        upgrade: bool = True,
        audit_key: AuditKey | object | None = CONFIGURED,
    ):
        """``audit_key``: the key that signs the audit log's checkpoints; by default the one the
        environment configures (:func:`registry.store.signing.configured_key`, read at the first
        write that appends audit events), ``None`` for none."""
        self.url = url
        self._audit_key = audit_key
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, future=True)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self.writer = self.engine.execution_options(govreg_write=True)
        if upgrade:
            self.upgrade()

    # --- schema ------------------------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        cfg = alembic_config(self.url)
        with self.write() as conn:  # two processes opening a new store do not both migrate it
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def require_current(self) -> None:
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        current = self.schema_version()
        if current != head:
            raise StoreError(
                f"store schema is at {current}, govreg needs {head}: run govreg apply "
                "or open the store with upgrade"
            )

    # --- transactions ------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception.

        Writers run one at a time, and each reads what the one before it committed: SQLite's
        ``BEGIN IMMEDIATE`` does this; on PostgreSQL the transaction first takes an advisory
        lock (held until it ends), since its row locks come too late for a plan computed from
        reads (two applies would both plan the same creates).
        """
        with self.writer.begin() as conn:
            conn.info[KEY_INFO] = self.audit_key  # what an audit append signs with (resolved lazily)
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
            yield conn

    def audit_key(self) -> AuditKey | None:
        """The signing key (resolved once; a configured key that cannot be read raises AUD001)."""
        if self._audit_key is CONFIGURED:
            self._audit_key = configured_key()
        return self._audit_key  # type: ignore[return-value]

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # --- state -------------------------------------------------------------------------------
    def read_specs(self, conn: Connection | None = None) -> dict[str, dict[str, str]]:
        """Section → code → canonical spec text, as stored."""
        if conn is None:
            with self.read() as own:
                return self.read_specs(own)
        out: dict[str, dict[str, str]] = {}
        for section, table in ENTITY_TABLES.items():
            rows = conn.execute(select(table.c.code, table.c.spec))
            out[section] = {code: spec for code, spec in rows}
        return out

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, ordered: for tests that prove nothing changed."""
        from registry.store.schema import metadata

        with self.read() as conn:
            return {
                name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for name, t in metadata.tables.items()
            }

    def dispose(self) -> None:
        self.engine.dispose()


def registry_missing(url: str) -> str | None:
    """Why ``url`` holds no registry (no file, not a govreg store, nothing applied), or None.

    Changes nothing: a SQLite file that does not exist is not made, and one that exists is read
    through a read-only connection (no migration, not even the switch to WAL journaling).
    Read-only commands call this before opening a store.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return "an in-memory store holds no registry"
        path = Path(parsed.database)
        if not path.is_file():
            return f"no metadata store at {parsed.database} (apply a registry home to create it)"
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not {"alembic_version", "settings"} <= tables:
                    return f"{url} is not a govreg metadata store (apply a registry home to create one)"
                if con.execute("SELECT 1 FROM settings LIMIT 1").fetchone() is None:
                    return f"{url} holds no registry yet (apply a registry home first)"
        except sqlite3.DatabaseError as exc:
            return f"{url} is not a govreg metadata store ({exc})"
        return None
    store = Store(url, upgrade=False)
    try:
        if store.schema_version() is None:
            return f"{url} is not a govreg metadata store (apply a registry home to create one)"
        from registry.store.schema import settings

        with store.read() as conn:
            if conn.execute(select(settings.c.code).limit(1)).first() is None:
                return f"{url} holds no registry yet (apply a registry home first)"
    finally:
        store.dispose()
    return None


__all__ = ["DEFAULT_URL", "Store", "registry_missing"]
