"""The metadata store's backends for tests: SQLite always, PostgreSQL when a server is given.

``make test`` starts a private PostgreSQL cluster (scripts/ensure-postgres.sh) and sets
``GOVREG_TEST_PG`` to its admin URL; every store test then runs on both backends, each
PostgreSQL run in a database of its own, dropped afterwards. Without the variable (a bare
``pytest``) the PostgreSQL runs are skipped, and say why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN = os.environ.get("GOVREG_TEST_PG", "")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not PG_ADMIN, reason="GOVREG_TEST_PG is not set (make test sets it)"),
    ),
]

UrlFactory = Callable[..., str]


def urls(backend: str, folder: Path) -> Iterator[UrlFactory]:
    """A factory of fresh, empty store URLs on ``backend``; PostgreSQL databases are dropped after."""
    created: list[str] = []

    def make(name: str = "store") -> str:
        if backend == "sqlite":
            return f"sqlite:///{folder / (name + '.db')}"
        database = f"govreg_test_{name}_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        admin.dispose()
        created.append(database)
        return make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)

    yield make
    if created:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for database in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
