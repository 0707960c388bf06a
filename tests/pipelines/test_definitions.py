"""The Dagster definitions load from the registry and pass Dagster's own validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.resources import CITY, Settings
from registry.load import load_valid_home
from tests.support.paths import ROOT


def _defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())


def test_every_dataset_is_an_asset_in_its_departments_group() -> None:
    registry, _ = load_valid_home(CITY)
    specs = {tuple(s.key.path): s for s in _defs().resolve_all_asset_specs()}
    datasets = {(ds.provider, code) for code, ds in registry.datasets.items()}
    queries = {(q.owner, code) for code, q in [*registry.views.items(), *registry.indicators.items()]}
    assert set(specs) == datasets | queries
    for dept, code in datasets:
        spec = specs[(dept, code)]
        assert spec.group_name == dept
        assert "duckdb" in spec.kinds
        schema = spec.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c.element for c in registry.datasets[code].columns]
        assert spec.tags["govreg/security"] == str(registry.dataset_security(registry.datasets[code]))
        assert any(o.startswith("team:") for o in spec.owners)


def test_view_columns_carry_their_propagated_classification_and_datasets_their_freshness() -> None:
    """Each view column's tags are what propagation computes for it (not the dataset's own
    levels); each dataset's freshness policy follows its update cycle, none for irregular."""
    from lineage.propagate import Propagation
    from lineage.views import RegistryLineage
    from pipelines.assets import FRESHNESS

    registry, _ = load_valid_home(CITY)
    propagation = Propagation(registry, RegistryLineage(registry))
    specs = {s.key.path[-1]: s for s in _defs().resolve_all_asset_specs()}
    for code in registry.views:
        columns = {c.name: c for c in specs[code].metadata["dagster/column_schema"].columns}
        expected = dict(propagation.view_columns(code))
        assert set(columns) == set(expected), code
        for name, c in expected.items():
            tags = columns[name].tags
            assert (tags["govreg/security"], tags["govreg/personal"]) == (str(c.security), str(c.personal))
            assert tags["govreg/elements"] == (",".join(sorted(c.elements)) or "none")
        assert specs[code].tags["govreg/security"] == str(propagation.view_security(code))
    for code, ds in registry.datasets.items():
        policy = specs[code].freshness_policy
        windows = FRESHNESS.get(ds.update_cycle)
        if windows is None:
            assert policy is None, code
        else:
            shown = (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta())  # type: ignore[union-attr]
            assert shown == windows, code


def snapshot(defs: dg.Definitions) -> dict[str, object]:
    """What a pipeline engineer sees of each asset, sensor and schedule, as plain data."""
    assets = {}
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        schema = spec.metadata.get("dagster/column_schema")
        assets[spec.key.to_user_string()] = {
            "group": spec.group_name,
            "kinds": sorted(spec.kinds),
            "owners": list(spec.owners),
            "tags": dict(sorted(spec.tags.items())),
            "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
            "columns": [c.name for c in schema.columns] if schema else None,
            "classified": {
                c.name: f"{c.tags['govreg/security']}/{c.tags['govreg/personal']}"
                for c in (schema.columns if schema else [])
                if "govreg/security" in c.tags
            },
            "freshness": (
                {
                    "warn": str(spec.freshness_policy.warn_window.to_timedelta()),  # type: ignore[attr-defined]
                    "fail": str(spec.freshness_policy.fail_window.to_timedelta()),  # type: ignore[attr-defined]
                }
                if spec.freshness_policy
                else None
            ),
        }
    return {
        "assets": assets,
        "sensors": sorted(s.name for s in defs.sensors or []),  # type: ignore[union-attr]
        "schedules": sorted(s.name for s in defs.schedules or []),  # type: ignore[union-attr]
        "jobs": sorted(j.name for j in defs.jobs or []),  # type: ignore[union-attr]
    }


def test_definitions_snapshot() -> None:
    """Every asset spec of the sample city, pinned: a change here is a change engineers will see.

    Regenerate after an intended change with
    ``GOVREG_UPDATE_SNAPSHOTS=1 pytest tests/pipelines/test_definitions.py``.
    """
    current = snapshot(_defs())
    path = ROOT / "tests" / "snapshots" / "definitions.json"
    if os.environ.get("GOVREG_UPDATE_SNAPSHOTS"):
        path.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert current == json.loads(path.read_text(encoding="utf-8"))


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
