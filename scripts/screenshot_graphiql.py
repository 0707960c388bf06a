#!/usr/bin/env python
"""Screenshot GraphiQL on ``govreg serve`` running a query with a department token.

The script applies the bundled ``examples/city`` to a throw-away SQLite store, creates a reader token
for one department (``registry.store.tokens``), starts ``govreg serve`` on a free loopback port and
waits for ``/healthz``. It then opens ``/graphql#token=<token>`` in Debian's headless Chromium through
Playwright (the page puts the token into GraphiQL's headers editor), replaces the query in the editor,
clicks the run button, waits until the result pane holds the expected text, writes a PNG and stops the
server (terminate, bounded wait, kill). GraphiQL's scripts come from the server itself
(``/graphiql-static/``); every request the page makes is recorded, and any that leaves 127.0.0.1 is
aborted and reported.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``
(``scripts/ensure-chromium.sh`` installs it).

Usage::

    .venv/bin/python scripts/screenshot_graphiql.py [--out docs/screenshots/graphiql.png]
        [--query '{ element(code: "uscc") { ... } }'] [--expect 统一社会信用代码] [--timeout 60]

Exit status 0 on success, 1 on any failure (with the server's output when it did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package
from browser_tools import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ScreenshotError,
    ServerError,
    free_port,
    png_size,
    remaining,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "examples" / "city"
DEFAULT_OUT = ROOT / "docs" / "screenshots" / "graphiql.png"
WIDTH, HEIGHT = 1440, 760  # viewport = PNG size (GraphiQL fills the window)
DEPARTMENT, ROLE = "market_regulation", "reader"  # the token's holder: owner of the uscc element
DEFAULT_QUERY = """{
  element(code: "uscc") {
    code
    name
    nameEn
    owner {
      code
      name
    }
  }
}"""
DEFAULT_EXPECT = "统一社会信用代码"  # uscc's Chinese name in examples/city
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})

# The CodeMirror 5 instances behind GraphiQL's query editor and result pane.
_QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
_RESULT_PANE = ".graphiql-response .CodeMirror"
_RUN_BUTTON = "button.graphiql-execute-button"


class GovregServeError(ServerError):
    """``govreg serve`` did not start."""

    server = "govreg serve"


@dataclass(frozen=True)
class Screenshot:
    """What :func:`screenshot_graphiql` produced."""

    path: Path
    result: str  # the result pane's text (the JSON response as GraphiQL shows it)
    requests: list[str] = field(default_factory=list)  # every URL the page requested, in order
    external: list[str] = field(default_factory=list)  # those not on 127.0.0.1 (aborted)
    width: int = 0
    height: int = 0
    seconds: float = 0.0


def is_local(url: str) -> bool:
    """True for a URL on 127.0.0.1 or one that needs no network (``data:``, ``blob:``, ``about:``)."""
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1"


def prepare_store(directory: Path, home: Path = CITY) -> tuple[str, str]:
    """Apply ``home`` to a new SQLite store in ``directory``; return its URL and a fresh token."""
    from registry.load import load_valid_home
    from registry.store import Store
    from registry.store.apply import apply_registry
    from registry.store.tokens import create_token

    url = f"sqlite:///{directory / 'store.db'}"
    registry, _ = load_valid_home(home)
    store = Store(url)
    try:
        apply_registry(store, registry, actor="screenshot", reason="GraphiQL screenshot", source=str(home))
        _, token = create_token(
            store,
            department=DEPARTMENT,
            role=ROLE,
            label="screenshot_graphiql",
            actor="screenshot",
            reason="GraphiQL screenshot",
        )
    finally:
        store.dispose()
    return url, token


@contextlib.contextmanager
def govreg_server(store_url: str, log: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Run ``govreg serve`` for ``store_url`` on a free loopback port; yield its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "govreg", "serve", "--store", store_url]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    deadline = time.monotonic() + timeout
    with log.open("wb") as sink:
        try:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise GovregServeError(f"cannot run {' '.join(command)}: {exc}", "") from exc
        try:
            while True:
                if proc.poll() is not None:
                    output = log.read_text(errors="replace")
                    raise GovregServeError(f"govreg serve exited with status {proc.returncode}", output)
                if time.monotonic() > deadline:
                    raise GovregServeError("govreg serve did not answer /healthz in time", log.read_text())
                try:
                    with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                        if json.load(response).get("status") == "ok":
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.1)
            yield base_url
        finally:
            stop(proc)


def capture_graphiql(
    base_url: str,
    token: str,
    out: Path,
    *,
    query: str = DEFAULT_QUERY,
    expect: str = DEFAULT_EXPECT,
    timeout: float = 45.0,
) -> tuple[str, list[str], list[str]]:
    """Run ``query`` in GraphiQL at ``base_url`` with ``token`` and write a PNG of the page to ``out``.

    Returns the result pane's text, every URL the page requested and those not on 127.0.0.1 (which
    are aborted). Raises :class:`ScreenshotError` when the result does not contain ``expect``; the page
    is then saved next to ``out`` as ``<name>.failed.png``.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Route, sync_playwright

    if not CHROMIUM.exists():
        raise ScreenshotError(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh")
    deadline = time.monotonic() + timeout
    requests: list[str] = []
    external: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            external.append(url)
            route.abort("blockedbyclient")

    out.parent.mkdir(parents=True, exist_ok=True)
    failed = out.with_name(f"{out.stem}.failed.png")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
            )
        except PlaywrightError as exc:
            raise ScreenshotError(f"cannot launch {CHROMIUM}: {exc}") from exc
        try:
            context = browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1, locale="zh-CN"
            )
            context.on("request", lambda request: requests.append(request.url))
            context.route("**/*", route)
            page = context.new_page()
            result = ""
            try:
                page.goto(f"{base_url}/graphql#token={token}", wait_until="load")
                editor = page.locator(_QUERY_EDITOR)
                editor.wait_for(timeout=remaining(deadline, "waiting for GraphiQL to render") * 1000)
                # Set the text through CodeMirror: typing would trigger bracket auto-closing.
                editor.evaluate("(el, query) => el.CodeMirror.setValue(query)", query)
                # The schema is introspected with the same header; wait for it so the page is settled.
                page.wait_for_function(
                    "() => !document.querySelector('.graphiql-spinner')",
                    timeout=remaining(deadline, "waiting for the schema") * 1000,
                    polling=100,
                )
                page.locator(_RUN_BUTTON).click(timeout=remaining(deadline, "clicking run") * 1000)
                with contextlib.suppress(PlaywrightError):  # a timeout is reported below, with the text
                    page.wait_for_function(
                        "([sel, want]) => { const cm = document.querySelector(sel);"
                        " return !!cm && cm.CodeMirror.getValue().includes(want); }",
                        arg=[_RESULT_PANE, expect],
                        timeout=remaining(deadline, "waiting for the result") * 1000,
                        polling=100,
                    )
                result = page.locator(_RESULT_PANE).evaluate("el => el.CodeMirror.getValue()")
                page.evaluate("document.fonts.ready.then(() => true)")
                page.mouse.move(WIDTH - 5, HEIGHT - 5)  # no hover highlight in the picture
            except PlaywrightError as exc:
                with contextlib.suppress(PlaywrightError):
                    page.screenshot(path=str(failed))
                raise ScreenshotError(f"browser step failed (page saved to {failed}): {exc}") from exc
            if expect not in result:
                page.screenshot(path=str(failed))
                raise ScreenshotError(
                    f"the result pane does not show {expect!r} (page saved to {failed}): {result[:500]!r}"
                )
            page.screenshot(path=str(out))
            return result, requests, external
        finally:
            browser.close()


def screenshot_graphiql(
    out: Path = DEFAULT_OUT,
    *,
    query: str = DEFAULT_QUERY,
    expect: str = DEFAULT_EXPECT,
    home: Path = CITY,
    timeout: float = 60.0,
) -> Screenshot:
    """Prepare a store from ``home``, start ``govreg serve``, screenshot GraphiQL to ``out``, stop.

    The whole run is bounded by ``timeout`` seconds (the server gets at most half of it to start).
    """
    started = time.monotonic()
    deadline = started + timeout
    with tempfile.TemporaryDirectory(prefix="govreg-graphiql-") as tmp:
        directory = Path(tmp)
        store_url, token = prepare_store(directory, home)
        with govreg_server(store_url, directory / "serve.log", timeout=timeout / 2) as base_url:
            result, requests, external = capture_graphiql(
                base_url,
                token,
                out,
                query=query,
                expect=expect,
                timeout=remaining(deadline, "before opening the browser"),
            )
    width, height = png_size(out)
    return Screenshot(out, result, requests, external, width, height, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    parser.add_argument("--query", default=DEFAULT_QUERY, help="GraphQL query to run")
    parser.add_argument("--expect", default=DEFAULT_EXPECT, help="text the result must contain")
    parser.add_argument("--home", type=Path, default=CITY, help="registry home applied to the store")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall bound in seconds")
    args = parser.parse_args(argv)
    try:
        shot = screenshot_graphiql(
            args.out.resolve(),
            query=args.query,
            expect=args.expect,
            home=args.home.resolve(),
            timeout=args.timeout,
        )
    except ScreenshotError as exc:
        print(f"screenshot_graphiql: {exc}", file=sys.stderr)
        return 1
    if shot.external:
        print(f"screenshot_graphiql: requests outside 127.0.0.1 (aborted): {shot.external}", file=sys.stderr)
        return 1
    size_kb = shot.path.stat().st_size / 1024
    print(
        f"wrote {shot.path} ({shot.width}x{shot.height}, {size_kb:.0f} KB) in {shot.seconds:.1f} s; "
        f"{len(shot.requests)} requests, all to 127.0.0.1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
