"""The command line fails closed: a read-only command pointed at a store that does not exist, is
not a govreg store or holds no registry refuses (exit 1, saying why) and creates nothing; token
commands record who acted as ``GOVREG_ACTOR`` says, like every other write.

Real parts: the real ``govreg`` command, real SQLite files.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from registry.store import Store
from tests.support.city_home import write_home
from tests.support.cli import govreg

READ_ONLY = [
    ("owners",),
    ("conflicts",),
    ("audit",),
    ("quality",),
    ("show", "element", "uscc"),
    ("impact", "uscc"),
    ("coverage",),
    ("export", "--yaml", "--out", "exported"),
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_a_read_only_command_refuses_a_missing_store_and_creates_none(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "typo.db"
    result = govreg(*command, "--store", f"sqlite:///{missing}", cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "no metadata store at" in result.stderr and "typo.db" in result.stderr
    assert not missing.exists()  # looking created no empty store
    assert not (tmp_path / "exported").exists()


def test_a_store_with_no_registry_or_not_govregs_is_refused_unchanged(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Store(f"sqlite:///{empty}").dispose()  # a govreg schema, nothing applied
    result = govreg("owners", "--store", f"sqlite:///{empty}", cwd=tmp_path)
    assert result.returncode == 1 and "holds no registry yet" in result.stderr, result.stdout

    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    digest = hashlib.sha256(foreign.read_bytes()).hexdigest()
    result = govreg("conflicts", "--store", f"sqlite:///{foreign}", cwd=tmp_path)
    assert result.returncode == 1 and "is not a govreg metadata store" in result.stderr, result.stdout
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == digest  # not migrated


def test_apply_still_creates_the_store(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert govreg("apply", "--home", str(home), "--store", url, cwd=tmp_path).returncode == 0
    result = govreg("owners", "--store", url, cwd=tmp_path)
    assert result.returncode == 0 and "market" in result.stdout, result.stderr


def test_token_commands_record_govreg_actor(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert govreg("apply", "--home", str(home), "--store", url, cwd=tmp_path).returncode == 0
    env = {"GOVREG_ACTOR": "王芳 (center admin)"}
    created = govreg(
        "token", "create", "--department", "market", "--role", "reader", "--store", url, cwd=tmp_path, env=env
    )
    assert created.returncode == 0, created.stderr
    token_id = created.stderr.split("token ", 1)[1].split(" ", 1)[0]
    revoked = govreg("token", "revoke", token_id, "--store", url, cwd=tmp_path, env={"GOVREG_ACTOR": "李强"})
    assert revoked.returncode == 0, revoked.stderr
    audit = govreg("audit", "--kind", "token", "--store", url, "--json", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    assert "王芳 (center admin)" in audit.stdout and "李强" in audit.stdout
