"""``govreg demo``, the main job, end to end on the bundled sample city."""

from __future__ import annotations

import json
from pathlib import Path

from registry.load import load_valid_home
from registry.store import Store
from registry.store.audit import verify_chain
from tests.test_cli import govreg

CITY = Path(__file__).resolve().parent.parent / "examples" / "city"


def test_demo_applies_generates_and_summarises_then_is_repeatable(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ("demo", "--rows", "3000", "--seed", "11", "--store", store, "--out", "out")
    first = govreg(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    registry, warnings = load_valid_home(CITY)
    created = registry.count() + 1  # and the registry settings
    assert f"{created} created, 0 updated, 0 deleted, {created} audit events" in first.stdout
    assert "audit chain verified" in first.stdout
    for dept in registry.departments.values():
        assert dept.name in first.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["datasets"]) == set(registry.datasets)
    assert max(d["rows"] for d in manifest["datasets"].values()) == 3000
    for entry in manifest["datasets"].values():
        assert (tmp_path / "out" / entry["file"]).is_file()
    injected = sum(
        n
        for d in manifest["datasets"].values()
        for col in d["defects"]["columns"].values()
        for n in col.values()
    ) + sum(d["defects"].get("duplicate_key", 0) for d in manifest["datasets"].values())
    assert f"{injected} injected defects" in first.stdout

    second = govreg(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 created, 0 updated, 0 deleted, 0 audit events" in second.stdout
    again = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert {c: d["sha256"] for c, d in again["datasets"].items()} == {
        c: d["sha256"] for c, d in manifest["datasets"].items()
    }
    with Store(store).read() as conn:
        assert verify_chain(conn).events == created
    assert len(warnings) == 3
