"""Injected defects against what the quality checks found: the demo's proof that checks work.

Each injected defect maps to the standard that must catch it: a null in a required column to
``required:<element>``, a bad check character to ``check_digit:<element>``, an out-of-domain code
to ``codes:<element>``. A duplicated key is shared by two rows, so ``unique:<key>`` counts two
unexpected rows per injected duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.home import Registry

RULE = {"null": "required", "check_digit": "check_digit", "out_of_domain": "codes"}


def reconcile(
    registry: Registry, manifest: Mapping[str, Any], results: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Rows of (dataset, column, defect, injected, found, match) for every injected defect type.

    ``manifest`` is ``Manifest.as_json()`` (or manifest.json); ``results`` maps a dataset code to
    its latest quality results (dicts with ``key`` and ``unexpected_count``).
    """
    rows = []
    for code, entry in manifest["datasets"].items():
        ds = registry.datasets[code]
        found = {r["key"]: r.get("unexpected_count") for r in results.get(code, [])}
        elements = {c.name: c.element for c in ds.columns}
        for column, defects in entry["defects"]["columns"].items():
            for defect, injected in defects.items():
                key = f"{RULE[defect]}:{elements[column]}"
                rows.append(_row(code, column, defect, injected, found.get(key)))
        duplicates = entry["defects"].get("duplicate_key")
        if duplicates is not None:
            keys = [c.element for c in (ds.column_for(k) for k in ds.key) if c is not None]
            counted = found.get(f"unique:{'+'.join(keys)}")
            rows.append(
                _row(
                    code,
                    "+".join(ds.key),
                    "duplicate_key",
                    duplicates,
                    None if counted is None else counted // 2,
                )
            )
    return rows


def _row(dataset: str, column: str, defect: str, injected: int, found: float | None) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "column": column,
        "defect": defect,
        "injected": injected,
        "found": found,
        "match": found == injected,
    }
