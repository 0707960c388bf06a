"""The Dagster UI shows every providing department as an asset group: real webserver, real Chromium.

Runs ``scripts/screenshot_dagster.py`` end to end: ``dagster-webserver`` for ``workspace.yaml``,
Debian's headless ``/usr/bin/chromium`` driven by Playwright, the first-visit community dialog
dismissed, a full-page PNG written. Skipped only on a developer machine without Chromium
(``scripts/ensure-chromium.sh`` installs it); in CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

from registry.load import load_valid_home
from tests.support.paths import ROOT

SCRIPT = ROOT / "scripts" / "screenshot_dagster.py"
CHROMIUM = Path("/usr/bin/chromium")
CITY = ROOT / "examples" / "city"


def _load_script() -> ModuleType:
    """Import scripts/screenshot_dagster.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("screenshot_dagster", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, checking the signature on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR", "PNG does not start with IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.slow
def test_asset_graph_shows_every_providing_department(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: run scripts/ensure-chromium.sh before the tests")
        pytest.skip(f"{CHROMIUM} is not installed (run scripts/ensure-chromium.sh); the UI test needs it")
    monkeypatch.delenv("GOVREG_HOME", raising=False)  # the workspace then loads the bundled city
    registry, _ = load_valid_home(CITY)
    departments = {ds.provider for ds in registry.datasets.values()}
    assert departments, "the sample city provides no datasets"

    script = _load_script()
    out = tmp_path / "asset-graph.png"
    # the timeout bounds a hang, it is not a target
    shot = script.screenshot_asset_graph(out, sorted(departments), timeout=600)

    assert out.is_file()
    data = out.read_bytes()
    width, height = _png_size(data)
    assert len(data) > 20_000, f"PNG is only {len(data)} bytes: a blank page?"
    assert width >= 1200, width
    assert height >= 600, height
    assert (width, height) == (shot.width, shot.height)
    missing = departments - set(shot.groups)
    assert not missing, (
        f"department groups not visible in the asset graph: {sorted(missing)}; saw {shot.groups}"
    )
    assert shot.seconds < 60
