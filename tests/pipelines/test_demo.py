"""``govreg demo``, the main job, end to end on the bundled sample city (real CLI, Dagster, DuckDB)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
from rich.cells import cell_len

from pipelines.resources import CITY
from registry.load import load_valid_home
from registry.store import Store
from registry.store.audit import verify_audit, verify_chain
from registry.store.loads import list_loads
from registry.store.signing import trusted_keys
from registry.vocab import DataType
from tests.support.cli import govreg


def test_demo_applies_generates_materializes_refuses_and_summarises(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = ("demo", "--rows", "3000", "--seed", "11", "--store", store, "--data", "data")
    env = {"DAGSTER_HOME": str(tmp_path / "dagster")}
    first = govreg(*args, cwd=tmp_path, env={**env, "COLUMNS": "100"})  # the report at 100 columns
    assert first.returncode == 0, first.stdout + first.stderr
    # a successful demo says nothing on stderr: no DuckDB "leaked instance" report at exit
    assert first.stderr == "", first.stderr[-2000:]
    registry, warnings = load_valid_home(CITY)
    created = registry.count() + 1  # and the registry settings
    out = first.stdout
    assert f"{created} created, 0 updated, 0 deleted, {created} audit events" in out
    assert "audit chain verified" in out
    expected = len(registry.datasets) + len(registry.views) + len(registry.indicators)
    assert f"{expected} assets materialized" in out
    assert "refused and quarantined" in out and "ING001" in out and "lxdh" in out
    words = set(re.findall(r"[A-Za-z0-9_]+", out))
    for dept in {ds.provider for ds in registry.datasets.values()}:
        assert registry.departments[dept].name in out
        assert dept in words  # whole: the summary never cuts a department code in two
    tables = [line for line in out.splitlines() if any(c in line for c in "│┃┏└")]
    assert all(cell_len(line) <= 100 for line in tables)  # prose lines wrap in the terminal

    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["datasets"]) == set(registry.datasets)
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    try:
        for code, entry in manifest["datasets"].items():
            # a date that is no date (an injected date-format defect of a date element) is set aside
            elements = {c.name: registry.elements[c.element] for c in registry.datasets[code].columns}
            set_aside = sum(
                counts.get("date_format", 0)
                for column, counts in entry["defects"]["columns"].items()
                if elements[column].type in (DataType.DATE, DataType.DATETIME)
            )
            loaded = con.execute(f'SELECT count(*) FROM "{code}"').fetchone()
            assert loaded == (entry["rows"] - set_aside,), code
    finally:
        con.close()
    quarantined = list((tmp_path / "data" / "quarantine" / "tax" / "tax_registration").glob("*.reason.json"))
    assert len(quarantined) == 1

    second = govreg(*args, "--json", cwd=tmp_path, env=env)  # the second run as a machine reads it
    assert second.returncode == 0, second.stdout + second.stderr
    # the second run finds every extract already loaded: each check reports the live table's
    # standing results (no blocking check "emitted no result"), and nothing is on stderr
    assert second.stderr == "", second.stderr[-2000:]
    summary = json.loads(second.stdout)  # the JSON summary alone on stdout: no human report mixed in
    assert summary["ok"] is True and summary["applied_events"] == 0 and summary["audit_ok"] is True
    assert summary["bad_extract_refused"] is True and summary["failed_steps"] == []
    assert summary["defects"]  # reconciled again (the first run's report checks the counts)
    loads = list(list_loads(Store(store)))
    statuses = [r["status"] for r in loads[: len(registry.datasets) + 1]]  # newest first: the second demo
    assert statuses.count("duplicate") == len(registry.datasets) and statuses.count("rejected") == 1
    with Store(store).read() as conn:
        assert verify_chain(conn).events == created
        report = verify_audit(conn, trusted_keys()[0])
        assert report.ok and report.signed and report.entities == created, report.problems
    assert len(warnings) == 3
