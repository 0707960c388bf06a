"""Opening the metadata store: engine set-up, schema migrations, transactions.

SQLite by default (WAL, foreign keys, a busy timeout, ``BEGIN IMMEDIATE`` for writers so two
applies serialise instead of deadlocking); any SQLAlchemy URL otherwise (PostgreSQL in
production). The schema is brought to the newest Alembic revision on open.

Writers wait for each other, but not for ever: a writer that cannot take the write lock within
``write_wait`` seconds (``GOVREG_WRITE_WAIT``, else :data:`WRITE_WAIT`) gets :class:`StoreBusy`,
with nothing written. On SQLite each ``BEGIN IMMEDIATE`` waits up to :data:`ATTEMPT_MS` (the busy
timeout) and is retried, after a jittered pause that grows, until the wait is spent; on
PostgreSQL the advisory lock is taken under a ``lock_timeout`` of what remains of the wait. A
lock error inside the transaction is the same refusal (the transaction is rolled back).

A store URL may hold a password: :func:`redact_url` is how a URL is shown (SQLAlchemy's
``render_as_string(hide_password=True)``), and :func:`scrub` takes the password out of any text
(a driver's error message) before it is shown.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from registry.errors import StoreBusy, StoreError
from registry.store.schema import ENTITY_TABLES
from registry.store.signing import AuditKey, configured_key

KEY_INFO = "govreg_audit_key"  # conn.info: a callable giving the key audit appends sign with
CONFIGURED = object()  # Store(audit_key=...) default: the key the environment configures

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
from registry.defaults import DEFAULT_URL  # noqa: E402 - re-exported, light for the CLI

WRITE_LOCK = int.from_bytes(b"govreg:w", "big")  # the advisory lock every write takes on PostgreSQL
WRITE_WAIT = 15.0  # seconds a writer waits for the write lock, in all, before StoreBusy
ATTEMPT_MS = 1000  # SQLite's busy timeout: how long one BEGIN IMMEDIATE (or any statement) waits
SQLITE_BUSY, SQLITE_LOCKED = 5, 6  # primary result codes (extended codes keep them in the low byte)
PG_BUSY = frozenset({"55P03", "53300"})  # lock_not_available (lock_timeout), too_many_connections


def _write_wait() -> float:
    """``GOVREG_WRITE_WAIT`` (seconds, more than 0), else :data:`WRITE_WAIT`; refused if not a number."""
    text = os.environ.get("GOVREG_WRITE_WAIT", "").strip()
    if not text:
        return WRITE_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise StoreError(
            f"GOVREG_WRITE_WAIT is {text!r}: give the seconds a writer may wait, above 0, at most 3600"
        )
    return seconds


def redact_url(url: str) -> str:
    """``url`` as it may be shown: its password, if any, replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide whatever sits between user: and @
        return re.sub(r"(://[^/@:]*:)[^@]*@", r"\1***@", url)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        found = re.search(r"://[^/@:]*:([^@]*)@", url)
        return found.group(1) if found else None


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` shown redacted and its password removed,
    in every spelling a driver may echo it (as typed, URL-quoted, decoded)."""
    out = text.replace(url, redact_url(url))
    password = _password(url)
    if password:
        for form in sorted({password, quote(password, safe=""), quote_plus(password)}, key=len, reverse=True):
            out = out.replace(form, "***")
    return out


def is_busy(exc: BaseException) -> bool:
    """A lock the store could not take in time (SQLite busy or locked; PostgreSQL lock timeout)."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return "locked" in str(orig) or "busy" in str(orig)
    return (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) in PG_BUSY


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={ATTEMPT_MS}")
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
        write_wait: float | None = None,
        audit_key: AuditKey | object | None = CONFIGURED,
    ):
        """``audit_key``: the key that signs the audit log's checkpoints; by default the one the
        environment configures (:func:`registry.store.signing.configured_key`, read at the first
        write that appends audit events), ``None`` for none. ``write_wait``: how long a writer
        waits for the write lock before :class:`StoreBusy` (default ``GOVREG_WRITE_WAIT``)."""
        self.url = url
        self.write_wait = _write_wait() if write_wait is None else write_wait
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
    @property
    def shown_url(self) -> str:
        """The store's URL as it may be printed: without its password."""
        return redact_url(self.url)

    @contextmanager
    def write(self, wait: float | None = None) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception.

        Writers run one at a time, and each reads what the one before it committed: SQLite's
        ``BEGIN IMMEDIATE`` does this; on PostgreSQL the transaction first takes an advisory
        lock (held until it ends), since its row locks come too late for a plan computed from
        reads (two applies would both plan the same creates).

        A writer waits at most ``wait`` seconds (the store's ``write_wait`` by default) for the
        lock, retrying with backoff, then raises :class:`StoreBusy`; so does a lock error later
        in the transaction (rolled back). Nothing is written either way.
        """
        budget = self.write_wait if wait is None else wait
        deadline = time.monotonic() + budget
        pause = 0.02
        while True:
            stack = ExitStack()
            try:
                conn = stack.enter_context(self.writer.begin())
                conn.info[KEY_INFO] = self.audit_key  # what an audit append signs with (resolved lazily)
                if conn.dialect.name == "postgresql":
                    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                    conn.execute(text(f"SET LOCAL lock_timeout = {left_ms}"))
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
                break
            except DBAPIError as exc:
                stack.__exit__(type(exc), exc, exc.__traceback__)  # rolls back what was begun
                remaining = deadline - time.monotonic()
                if not is_busy(exc):
                    raise
                if remaining <= 0:
                    raise self._busy(budget) from exc
                time.sleep(min(remaining, pause * random.uniform(0.5, 1.5)))
                pause = min(pause * 2, 0.5)
        with stack:
            try:
                yield conn
            except DBAPIError as exc:
                if is_busy(exc):
                    raise self._busy(budget) from exc
                raise

    def _busy(self, waited: float) -> StoreBusy:
        return StoreBusy(
            f"the metadata store is busy: another writer held it for more than {waited:g} s; "
            "nothing was changed, try again"
        )

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
    shown = redact_url(url)
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
                    return f"{shown} is not a govreg metadata store (apply a registry home to create one)"
                if con.execute("SELECT 1 FROM settings LIMIT 1").fetchone() is None:
                    return f"{shown} holds no registry yet (apply a registry home first)"
        except sqlite3.DatabaseError as exc:
            return f"{shown} is not a govreg metadata store ({scrub(str(exc), url)})"
        return None
    store = Store(url, upgrade=False)
    try:
        if store.schema_version() is None:
            return f"{shown} is not a govreg metadata store (apply a registry home to create one)"
        from registry.store.schema import settings

        with store.read() as conn:
            if conn.execute(select(settings.c.code).limit(1)).first() is None:
                return f"{shown} holds no registry yet (apply a registry home first)"
    finally:
        store.dispose()
    return None


__all__ = ["DEFAULT_URL", "Store", "is_busy", "redact_url", "registry_missing", "scrub"]
