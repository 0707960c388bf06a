"""Dataset-specific rules: Great Expectations suites in GX's own JSON, in ``<home>/suites/``.

``suites/<dataset code>.json`` holds one suite, exactly as GX saves it
(``suite.to_json_dict()``); it is loaded with GX's own API, so a suite written by GX works
unchanged. Problems come back as :class:`registry.errors.Problem` with file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

import expectations.custom  # noqa: F401 - registers govreg's expectations with GX
from registry.errors import Location, Problem, display_path
from registry.home import Registry

SUITES_DIR = "suites"


@dataclass(frozen=True)
class LoadedSuite:
    dataset: str
    suite: gx.ExpectationSuite
    file: str


def suite_files(home: Path) -> list[Path]:
    folder = home / SUITES_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _columns_of(config: Any) -> list[str]:
    kwargs = config.kwargs
    columns = [kwargs["column"]] if "column" in kwargs else []
    for key in ("column_list", "column_A", "column_B"):
        value = kwargs.get(key)
        if isinstance(value, list):
            columns += value
        elif isinstance(value, str):
            columns.append(value)
    return columns


GX0_SUITE_KEYS = ("expectation_suite_name", "ge_cloud_id", "data_asset_type")
GX0_EXPECTATION_KEYS = ("expectation_type", "ge_cloud_id")


def _gx0_keys(data: dict[str, Any]) -> list[str]:
    """The keys that mark a suite saved by GX 0.x (``expectation_suite_name``, ``expectation_type``)."""
    found = [f"`{k}`" for k in GX0_SUITE_KEYS if k in data]
    for raw in data["expectations"]:
        if isinstance(raw, dict):
            found += [f"`{k}`" for k in GX0_EXPECTATION_KEYS if k in raw and f"`{k}`" not in found]
    return found


def load_suite(path: Path, registry: Registry) -> tuple[LoadedSuite | None, list[Problem]]:
    shown = display_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        return None, [Problem("QA001", f"{exc.msg} (column {exc.colno})", Location(shown, exc.lineno))]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("QA001", f"cannot read the suite: {exc}", Location(shown, 0))]
    dataset = path.stem
    if dataset not in registry.datasets:
        return None, [Problem("QA003", f"no dataset '{dataset}' for this suite", Location(shown, 1))]
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        return None, [
            Problem(
                "QA002", "expected an object with 'name' and a list of 'expectations'", Location(shown, 1)
            )
        ]
    old_format = _gx0_keys(data)
    if old_format:
        return None, [
            Problem(
                "QA002",
                "this is the GX 0.x format; GX 1.x uses `type` and `name` "
                f"(this file has {', '.join(old_format)}): save the suite again with Great "
                "Expectations 1.x, json.dumps(suite.to_json_dict())",
                Location(shown, 1),
            )
        ]
    problems: list[Problem] = []
    for index, raw in enumerate(data["expectations"]):
        try:
            # GX logs and drops an expectation it cannot build instead of raising: ask for GX's reason
            if not gx.ExpectationSuite(name="probe", expectations=[raw]).expectations:
                ExpectationConfiguration(**raw).to_domain_obj()
                raise ValueError("not a valid expectation")
        except Exception as exc:  # GX raises several kinds for an unknown type or bad arguments
            kind = raw.get("type") if isinstance(raw, dict) else raw
            problems.append(Problem("QA002", f"expectation #{index + 1} ({kind}): {exc}", Location(shown, 0)))
    if problems:
        return None, problems
    try:
        suite = gx.ExpectationSuite(**{k: v for k, v in data.items() if k != "id"})
    except Exception as exc:
        return None, [Problem("QA002", f"not a suite: {exc}", Location(shown, 1))]
    known = {c.element for c in registry.datasets[dataset].columns}
    for index, expectation in enumerate(suite.expectations):
        missing = [c for c in _columns_of(expectation.configuration) if c not in known]
        if missing:
            problems.append(
                Problem(
                    "QA004",
                    f"expectation #{index + 1} ({expectation.expectation_type}) names "
                    f"{', '.join(missing)}; '{dataset}' has {', '.join(sorted(known))}",
                    Location(shown, 0),
                )
            )
    return (None if problems else LoadedSuite(dataset, suite, shown)), problems


def load_suites(home: Path, registry: Registry) -> tuple[dict[str, LoadedSuite], list[Problem]]:
    """Every suite below ``home/suites``, by dataset code, and every problem found."""
    suites: dict[str, LoadedSuite] = {}
    problems: list[Problem] = []
    for path in suite_files(home):
        loaded, found = load_suite(path, registry)
        problems += found
        if loaded is not None:
            suites[loaded.dataset] = loaded
    return suites, problems
