"""Injected defects against what the quality checks found: the demo's proof that checks work.

Each injected defect maps to the standard that must catch it: a null in a required column to
``required:<element>``, a bad check character to ``check_digit:<element>``, an out-of-domain code
to ``codes:<element>``, a value breaking the pattern, range or length to ``pattern:``, ``range:``
or ``length:<element>``, a date not in its text element's format to ``date_format:<element>``. A
date not in the format of a ``date``/``datetime`` element never reaches the checks: ingestion sets
its row aside, so it is found in the load's cast failures of that column. A duplicated key is
shared by two rows, so ``unique:<key>`` counts two unexpected rows per injected duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry.home import Registry
from registry.vocab import DataType

RULE = {
    "null": "required",
    "check_digit": "check_digit",
    "out_of_domain": "codes",
    "pattern": "pattern",
    "range": "range",
    "length": "length",
    "date_format": "date_format",
}


def reconcile(
    registry: Registry,
    manifest: Mapping[str, Any],
    results: Mapping[str, list[dict[str, Any]]],
    cast_failures: Mapping[str, Mapping[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """Rows of (dataset, column, defect, injected, found, match) for every injected defect type.

    ``manifest`` is ``Manifest.as_json()`` (or manifest.json); ``results`` maps a dataset code to
    its latest quality results (dicts with ``key`` and ``unexpected_count``); ``cast_failures``
    maps it to its latest load's values set aside per source column (the load record's
    ``cast_failures``). Without them, set-aside dates count as not found.
    """
    rows = []
    for code, entry in manifest["datasets"].items():
        ds = registry.datasets[code]
        found = {r["key"]: r.get("unexpected_count") for r in results.get(code, [])}
        set_aside = (cast_failures or {}).get(code)
        elements = {c.name: c.element for c in ds.columns}
        for column, defects in entry["defects"]["columns"].items():
            element = registry.elements[elements[column]]
            for defect, injected in defects.items():
                if defect == "date_format" and element.type in (DataType.DATE, DataType.DATETIME):
                    counted = None if set_aside is None else set_aside.get(column, 0)
                    rows.append(_row(code, column, defect, injected, counted))
                    continue
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
