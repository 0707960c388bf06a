"""GraphiQL works offline: vendored assets, served without a token, and a real query in a real browser.

The fast tests check the vendored files in ``registry/api/static/graphiql`` against their
``SHA256SUMS`` and the ``/graphiql-static/`` route. The slow test runs
``scripts/screenshot_graphiql.py`` end to end: ``govreg serve`` on a store with the sample city,
Debian's headless ``/usr/bin/chromium`` driven by Playwright, the token passed in the URL fragment,
a query run from GraphiQL's editor. It is skipped only on a developer machine without Chromium
(``scripts/ensure-chromium.sh`` installs it); in CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from registry.api.app import GRAPHIQL, STATIC, STATIC_TYPES, create_app
from registry.store import Store
from tests.support.paths import ROOT

SCRIPT = ROOT / "scripts" / "screenshot_graphiql.py"
CHROMIUM = Path("/usr/bin/chromium")


def _load_script() -> ModuleType:
    """Import scripts/screenshot_graphiql.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("screenshot_graphiql", SCRIPT)
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


def test_vendored_assets_match_their_checksums() -> None:
    sums: dict[str, str] = {}
    for line in (STATIC / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    assert set(sums) == set(STATIC_TYPES), "SHA256SUMS and the served files differ"
    for name, digest in sums.items():
        data = gzip.decompress((STATIC / f"{name}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} does not match SHA256SUMS"
    assert (STATIC / "LICENSE.graphiql").read_text().startswith("MIT License")
    assert (STATIC / "LICENSE.react").read_text().startswith("MIT License")


def test_graphiql_page_and_assets_need_no_token_and_no_cdn(tmp_path: Path) -> None:
    assert not re.search(r"(src|href)=\"https?:", GRAPHIQL), "the GraphiQL page loads from outside"
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with TestClient(create_app(store)) as client:
            page = client.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            for name in re.findall(r'(?:src|href)="/graphiql-static/([^"]+)"', page.text):
                assert name in STATIC_TYPES
            for name, media_type in STATIC_TYPES.items():
                raw = gzip.decompress((STATIC / f"{name}.gz").read_bytes())
                zipped = client.get(f"/graphiql-static/{name}", headers={"Accept-Encoding": "gzip"})
                assert zipped.status_code == 200, name
                assert zipped.headers["content-encoding"] == "gzip"
                assert zipped.headers["content-type"] == media_type
                assert zipped.content == raw  # httpx decodes the gzip body
                plain = client.get(f"/graphiql-static/{name}", headers={"Accept-Encoding": "identity"})
                assert "content-encoding" not in plain.headers and plain.content == raw
            assert client.get("/graphiql-static/../app.py").status_code == 404
            assert client.get("/graphiql-static/SHA256SUMS").status_code == 404
            assert client.get("/graphql", headers={"Accept": "application/json"}).status_code == 401
    finally:
        store.dispose()


@pytest.mark.slow
def test_graphiql_runs_a_query_through_the_server_with_the_token(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: run scripts/ensure-chromium.sh before the tests")
        pytest.skip(f"{CHROMIUM} is not installed (run scripts/ensure-chromium.sh); the UI test needs it")
    script = _load_script()
    out = tmp_path / "graphiql.png"
    shot = script.screenshot_graphiql(out, timeout=600)  # a bound for a hang, not a target

    data = out.read_bytes()
    width, height = _png_size(data)
    assert (width, height) == (shot.width, shot.height) == (script.WIDTH, script.HEIGHT)
    assert len(data) > 20_000, f"PNG is only {len(data)} bytes: a blank page?"
    # The result pane holds the server's answer: only a valid token gets data back (else 401).
    assert "统一社会信用代码" in shot.result
    element = json.loads(shot.result)["data"]["element"]
    assert element["name"] == "统一社会信用代码"
    assert element["owner"]["code"] == "market_regulation"
    assert not shot.external, f"the page requested URLs outside 127.0.0.1: {shot.external}"
    assert any(url.endswith("/graphiql-static/graphiql.min.js") for url in shot.requests), shot.requests
    assert all(script.is_local(url) for url in shot.requests)
    assert shot.seconds < 60
