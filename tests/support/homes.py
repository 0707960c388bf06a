"""A small, valid registry home (``tests/fixtures/homes/rules``), for the loader and rule tests.

Tests copy :data:`BASE`, break one thing with :func:`edit`, write it with :func:`write_home` and
find the line they expect a problem at with :func:`line` (the unique line holding a needle).
Load it with the working directory set to the home, so locations read ``elements.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from registry.errors import Problem
from registry.home import Registry
from registry.load import load_home
from registry.rules import check_rules
from tests.support.paths import HOMES

RULES_HOME = HOMES / "rules"
"""The home itself, a fixture folder: ``govreg validate tests/fixtures/homes/rules`` passes."""

TODAY = date(2026, 1, 1)

REGISTRY = (RULES_HOME / "registry.yaml").read_text(encoding="utf-8")

DEPARTMENTS = (RULES_HOME / "departments.yaml").read_text(encoding="utf-8")

CODELISTS = (RULES_HOME / "codelists.yaml").read_text(encoding="utf-8")

ELEMENTS = (RULES_HOME / "elements.yaml").read_text(encoding="utf-8")

DATASETS = (RULES_HOME / "datasets.yaml").read_text(encoding="utf-8")

AGREEMENTS = (RULES_HOME / "agreements.yaml").read_text(encoding="utf-8")

SERVICES = (RULES_HOME / "services.yaml").read_text(encoding="utf-8")

VIEWS = (RULES_HOME / "views.yaml").read_text(encoding="utf-8")

SQL = (RULES_HOME / "sql/capital_by_type.sql").read_text(encoding="utf-8")

BASE: dict[str, str | bytes] = {
    "registry.yaml": REGISTRY,
    "departments.yaml": DEPARTMENTS,
    "codelists.yaml": CODELISTS,
    "elements.yaml": ELEMENTS,
    "datasets.yaml": DATASETS,
    "agreements.yaml": AGREEMENTS,
    "services.yaml": SERVICES,
    "views.yaml": VIEWS,
    "sql/capital_by_type.sql": SQL,
}


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old``; a test that misses its target fails loudly."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line(text: str | bytes, needle: str) -> int:
    """The 1-based number of the one line of ``text`` that holds ``needle``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    found = [n for n, row in enumerate(text.splitlines(), 1) if needle in row]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def write_home(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` (relative path → text, or bytes written as they are) below ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def load_and_check(home: Path) -> tuple[Registry, list[Problem]]:
    """Load a home and run the governance rules on the fixed day: every problem, shape and rules."""
    registry, problems = load_home(home)
    return registry, problems + check_rules(registry, today=TODAY)
