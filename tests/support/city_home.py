"""A one-file registry home (``tests/fixtures/homes/base/city.yaml``): two departments, a few
elements, two datasets. Tests read it as :data:`BASE`, change a line, and write it with
:func:`write_home`; ``govreg validate tests/fixtures/homes/base`` checks the fixture itself."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.paths import HOMES

BASE = (HOMES / "base" / "city.yaml").read_text(encoding="utf-8")


def write_home(root: Path, body: str = BASE) -> Path:
    """Write ``body`` as ``root/city.yaml`` (a body written indented is dedented first)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "city.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    return root
