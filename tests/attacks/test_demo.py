"""The demo never touches your data: it runs on its own home, store and data folder
(``.govreg/demo``) whatever ``GOVREG_HOME``, ``GOVREG_STORE`` and ``GOVREG_DATA`` say, and it
refuses to apply over a store holding another registry unless ``--force``.

Real parts: the real ``govreg`` command, real SQLite stores, a real Dagster run of the demo.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from registry.store import Store
from tests.support.city_home import write_home
from tests.support.cli import govreg


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def users_world(tmp_path: Path) -> tuple[Path, str, Path]:
    """Someone's own registry (not the sample city) applied to their store, and their data folder."""
    home = write_home(tmp_path / "mine" / "home")
    url = f"sqlite:///{tmp_path / 'mine' / 'store.db'}"
    applied = govreg("apply", "--home", str(home), "--store", url, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    data = tmp_path / "mine" / "data"
    (data / "landing").mkdir(parents=True)
    (data / "landing" / "keep.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return home, url, data


def test_the_demo_ignores_the_configured_home_store_and_data(
    tmp_path: Path, users_world: tuple[Path, str, Path]
) -> None:
    home, url, data = users_world
    before = Store(url).dump()
    files = tree_digest(tmp_path / "mine")
    run = tmp_path / "elsewhere"
    run.mkdir()
    env = {
        "GOVREG_HOME": str(home),
        "GOVREG_STORE": url,
        "GOVREG_DATA": str(data),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    result = govreg("demo", "--rows", "300", "--seed", "3", cwd=run, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Store(url).dump() == before  # not one entity of theirs changed or deleted
    assert tree_digest(tmp_path / "mine") == files  # their home, store file and data untouched
    own = run / ".govreg" / "demo"
    assert (own / "store.db").is_file() and (own / "data" / "warehouse.duckdb").is_file()
    assert Store(f"sqlite:///{own / 'store.db'}").read_specs()["departments"]  # the city went there


def test_the_demo_refuses_a_store_holding_another_registry_unless_forced(
    tmp_path: Path, users_world: tuple[Path, str, Path]
) -> None:
    _, url, _ = users_world
    before = Store(url).dump()
    env = {"DAGSTER_HOME": str(tmp_path / "dagster")}
    refused = govreg("demo", "--rows", "300", "--store", url, "--data", "d", cwd=tmp_path, env=env)
    assert refused.returncode == 1, refused.stdout
    assert "DEMO" in refused.stderr and "holds another registry" in refused.stderr
    assert "--force" in refused.stderr and "nothing was changed" in refused.stderr
    assert Store(url).dump() == before  # nothing applied, nothing audited
    assert not (tmp_path / "d").exists()  # nothing generated either

    forced = govreg("demo", "--rows", "300", "--store", url, "--data", "d", "--force", cwd=tmp_path, env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    deleted = re.search(r"(\d+) deleted", forced.stdout)
    assert deleted is not None and int(deleted.group(1)) > 0  # told, it replaces their registry
    assert "山城市" in next(iter(Store(url).read_specs()["settings"].values()))
