"""The Dagster definitions load from the registry and pass Dagster's own validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipelines.definitions import CITY, build_definitions
from registry.load import load_valid_home

ROOT = Path(__file__).resolve().parent.parent


def test_every_dataset_is_an_asset_in_its_departments_group() -> None:
    registry, _ = load_valid_home(CITY)
    specs = {tuple(s.key.path): s for s in build_definitions(CITY).resolve_all_asset_specs()}
    assert set(specs) == {(ds.provider, code) for code, ds in registry.datasets.items()}
    for (dept, code), spec in specs.items():
        assert spec.group_name == dept
        assert "duckdb" in spec.kinds
        schema = spec.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c.element for c in registry.datasets[code].columns]
        assert spec.tags["govreg/security"] == str(registry.dataset_security(registry.datasets[code]))


def test_dagster_validates_the_workspace() -> None:
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "All code locations passed validation" in result.stderr + result.stdout
