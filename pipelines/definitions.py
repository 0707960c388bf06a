"""The Dagster entry point: the registry's datasets as assets, grouped by department.

Until ingestion lands (issue 3) each dataset is an asset *spec*: visible in the UI with its
owner department, description and column schema, not yet materialisable. The registry home is
``GOVREG_HOME`` or, by default, the bundled sample city.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from registry.home import Registry
from registry.load import load_valid_home

CITY = Path(__file__).resolve().parent.parent / "examples" / "city"


def dataset_specs(registry: Registry) -> list[dg.AssetSpec]:
    """One asset spec per dataset: key [department, dataset], group = department."""
    specs = []
    for ds in registry.datasets.values():
        dept = registry.departments[ds.provider]
        columns = []
        for c in ds.columns:
            element = registry.elements[c.element]
            columns.append(
                dg.TableColumn(
                    name=c.element,
                    type=element.type.duckdb_type,
                    description=f"{element.name} / {element.name_en} (source column {c.name})",
                )
            )
        specs.append(
            dg.AssetSpec(
                key=[ds.provider, ds.code],
                group_name=ds.provider,
                description=f"{ds.name} / {ds.name_en}. {ds.summary}".strip(),
                owners=[dept.team] if dept.team and dept.team.startswith("team:") else [],
                kinds={"duckdb", str(ds.format)},
                tags={
                    "govreg/security": str(registry.dataset_security(ds)),
                    "govreg/sharing": str(registry.dataset_sharing(ds)),
                },
                metadata={"dagster/column_schema": dg.TableSchema(columns=columns)},
            )
        )
    return specs


def build_definitions(home: str | Path | None = None) -> dg.Definitions:
    registry, _ = load_valid_home(home or os.environ.get("GOVREG_HOME") or CITY)
    return dg.Definitions(assets=dataset_specs(registry))


defs = build_definitions()
