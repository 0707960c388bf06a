"""Secrets and output: a store URL's password is never printed (``serve``, ``export``, a failed
connection, a driver's error quoting the URL), and center-admin tokens go only to the big-data
center that ``registry.yaml`` names (``registry: center:``); none at all while no center is named.

Real parts: the real ``govreg`` command in subprocesses (``serve``, ``export``, ``plan``, ``apply``,
``token create``), a real PostgreSQL database reached through a URL holding a password (when
``GOVREG_TEST_PG`` names a server; ``make test`` sets it), real SQLite store files, and the real
``govreg serve`` on a loopback port with a real HTTP client (httpx) for the tokens' use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from registry.store import Store
from tests.support.api import Serve
from tests.support.backends import PG_ADMIN, urls
from tests.support.cli import GOVREG
from tests.support.paths import CITY

PASSWORD = "s3cret"
DEAD = [
    f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x",  # nothing listens there
    f"postgresql+psycopg://u:p%40ss%2F{PASSWORD}@127.0.0.1:1/x",  # a password written URL-quoted
    f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:notaport/x",  # a URL the driver cannot use
]


def govreg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", "GOVREG_ACTOR": "secrets-tester", **(env or {})}
    return subprocess.run(
        [*GOVREG, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=180, check=False
    )


def _shown(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_a_failed_connection_never_prints_the_password(tmp_path: Path) -> None:
    commands = [
        ("serve", "--port", "1"),
        ("export", "--yaml", "--out", str(tmp_path / "out")),
        ("plan", "--home", str(CITY)),
        ("apply", "--home", str(CITY)),
        ("token", "create", "--department", "tax", "--role", "reader"),
    ]
    for command in commands:
        result = govreg(*command, "--store", DEAD[0], cwd=tmp_path)
        assert result.returncode != 0, f"{command[0]}: {_shown(result)[-500:]}"
        assert PASSWORD not in _shown(result), f"{command[0]} printed the password: {_shown(result)[-800:]}"
        assert "127.0.0.1" in _shown(result)  # it still says which store it could not open
    for url in DEAD[1:]:
        result = govreg("serve", "--port", "1", "--store", url, cwd=tmp_path)
        assert result.returncode != 0
        assert PASSWORD not in _shown(result), _shown(result)[-800:]
    from_env = govreg("serve", "--port", "1", cwd=tmp_path, env={"GOVREG_STORE": DEAD[0]})
    assert from_env.returncode != 0 and PASSWORD not in _shown(from_env), _shown(from_env)[-800:]


@pytest.mark.skipif(not PG_ADMIN, reason="GOVREG_TEST_PG is not set (make test sets it)")
def test_serve_and_export_of_a_live_store_never_print_its_password(tmp_path: Path) -> None:
    databases = urls("postgres", tmp_path)
    plain = next(databases)()
    # the test server trusts loopback, so any password is accepted: the URL carries one all the same
    url = make_url(plain).set(password=PASSWORD).render_as_string(hide_password=False)
    assert PASSWORD in url
    applied = govreg("apply", "--home", str(CITY), "--store", url, cwd=tmp_path)
    assert applied.returncode == 0, _shown(applied)[-1000:]
    assert PASSWORD not in _shown(applied)
    token = govreg("token", "create", "--department", "tax", "--role", "reader", "--store", url, cwd=tmp_path)
    assert token.returncode == 0 and PASSWORD not in _shown(token), _shown(token)[-1000:]
    for _ in range(2):  # once writing, once finding nothing to write: both name the store
        exported = govreg("export", "--yaml", "--out", str(tmp_path / "out"), "--store", url, cwd=tmp_path)
        assert exported.returncode == 0, _shown(exported)[-1000:]
        assert "(store postgresql" in exported.stdout, exported.stdout
        assert PASSWORD not in _shown(exported), _shown(exported)[-1000:]
    with Serve(url, tmp_path) as server:
        reader = token.stdout.strip().splitlines()[-1]
        assert httpx.post(
            server.url + "/graphql",
            json={"query": "{ me { role } }"},
            headers={"Authorization": f"Bearer {reader}"},
        ).json() == {"data": {"me": {"role": "reader"}}}
    log = server.log.read_text()
    assert "store postgresql" in log, log[-1000:]
    assert PASSWORD not in log, log[-1000:]
    next(databases, None)


def _home(tmp_path: Path, center: str | None) -> Path:
    """The sample city with ``registry: center:`` set to ``center`` (or removed)."""
    home = tmp_path / f"home-{center}"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("landing", "quarantine", ".*"))
    settings = home / "registry.yaml"
    lines = [ln for ln in settings.read_text("utf-8").splitlines() if not re.match(r"\s+center:", ln)]
    if center is not None:
        at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("division:"))
        lines.insert(at + 1, f"  center: {center}")
    settings.write_text("\n".join(lines) + "\n", "utf-8")
    return home


def _tokens(url: str) -> list[tuple[Any, ...]]:
    store = Store(url)
    try:
        return [(row[2], row[3]) for row in store.dump()["api_tokens"]]  # (department, role)
    finally:
        store.dispose()


def _create(url: str, tmp_path: Path, department: str, role: str) -> subprocess.CompletedProcess[str]:
    return govreg("token", "create", "--department", department, "--role", role, "--store", url, cwd=tmp_path)


def test_a_center_admin_token_is_only_for_the_center(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    applied = govreg("apply", "--home", str(_home(tmp_path, "big_data_center")), "--store", url, cwd=tmp_path)
    assert applied.returncode == 0, _shown(applied)[-1000:]

    tax = _create(url, tmp_path, "tax", "center-admin")
    assert tax.returncode == 1, _shown(tax)
    assert "big_data_center" in tax.stderr and "center" in tax.stderr, tax.stderr
    assert "grt_" not in tax.stdout  # no token was printed ...
    assert ("tax", "center-admin") not in _tokens(url)  # ... nor stored

    center = _create(url, tmp_path, "big_data_center", "center-admin")
    assert center.returncode == 0, _shown(center)
    admin = center.stdout.strip().splitlines()[-1]
    steward = _create(url, tmp_path, "tax", "steward")
    assert steward.returncode == 0, _shown(steward)  # tax's staff still get their own roles
    with Serve(url, tmp_path) as server:
        me = server.post(admin, {"query": "{ me { department role } }"}).json()
        assert me == {"data": {"me": {"department": "big_data_center", "role": "center-admin"}}}

    # the center moves to another department: the old center's admin token stops working
    moved = govreg("apply", "--home", str(_home(tmp_path, "real_estate")), "--store", url, cwd=tmp_path)
    assert moved.returncode == 0, _shown(moved)[-1000:]
    with Serve(url, tmp_path) as server:
        stale = server.post(admin, {"query": "{ me { department role } }"})
        assert stale.status_code == 401, stale.text
        assert stale.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert _create(url, tmp_path, "real_estate", "center-admin").returncode == 0
    assert _create(url, tmp_path, "big_data_center", "center-admin").returncode == 1


def test_no_center_admin_token_while_no_center_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    applied = govreg("apply", "--home", str(_home(tmp_path, None)), "--store", url, cwd=tmp_path)
    assert applied.returncode == 0, _shown(applied)[-1000:]
    for department in ("big_data_center", "tax"):
        refused = _create(url, tmp_path, department, "center-admin")
        assert refused.returncode == 1, _shown(refused)
        assert "names no center" in refused.stderr and "registry.yaml" in refused.stderr, refused.stderr
        assert "grt_" not in refused.stdout
    assert not [t for t in _tokens(url) if t[1] == "center-admin"]
    assert _create(url, tmp_path, "tax", "reader").returncode == 0  # other roles are issued as before


def test_a_center_that_is_no_department_is_an_error(tmp_path: Path) -> None:
    home = _home(tmp_path, "big_data_bureau")
    result = govreg("validate", "--home", str(home), cwd=tmp_path)
    assert result.returncode == 1, _shown(result)
    line = (home / "registry.yaml").read_text("utf-8").splitlines().index("  center: big_data_bureau") + 1
    assert f"registry.yaml:{line}" in result.stderr and "GOV040" in result.stderr, result.stderr
    applied = govreg("apply", "--home", str(home), "--store", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    assert applied.returncode == 1 and "GOV040" in applied.stderr, _shown(applied)[-1000:]
