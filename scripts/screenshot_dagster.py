#!/usr/bin/env python
"""Screenshot the Dagster global asset lineage, where the registry's assets sit in department groups.

The script starts ``dagster-webserver`` for ``workspace.yaml`` on a free local port with a throw-away
``DAGSTER_HOME`` (telemetry off), waits until the server answers and the code location has loaded,
opens ``/asset-groups`` (the "Global asset lineage" page, one box per asset group) in Debian's headless
Chromium through Playwright, dismisses the first-visit "Join the Dagster community" dialog by clicking
Skip, waits until every expected department group is drawn and not covered, writes a full-page PNG and
stops the server (terminate, bounded wait, kill).

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``
(``scripts/ensure-chromium.sh`` installs it).

Usage::

    .venv/bin/python scripts/screenshot_dagster.py [--out docs/screenshots/asset-graph.png]
        [--expect GROUP ...] [--timeout 90]

By default the expected groups are the departments that provide a dataset in the registry home
(``GOVREG_HOME`` or the bundled ``examples/city``). Exit status 0 on success, 1 on any failure, with the
webserver's output printed when it did not start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
WORKSPACE = ROOT / "workspace.yaml"
CITY = ROOT / "examples" / "city"
DEFAULT_OUT = ROOT / "docs" / "screenshots" / "asset-graph.png"
GRAPH_PATH = "/asset-groups"  # "Global asset lineage": every asset, boxed by asset group
WIDTH, HEIGHT = 1600, 1200  # viewport; the page is a fixed-height app, so also the PNG size
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in the webserver log
DAGSTER_YAML = "telemetry:\n  enabled: false\n"

# For every asset-group node drawn in the graph: its name, whether it is on screen and on top (not covered
# by a dialog or menu), and its position. Collapsed group nodes carry the name in ``data-tooltip``;
# the first line of the node's text is the fallback.
_GROUPS_JS = """
() => {
  const out = [];
  for (const node of document.querySelectorAll('[data-svg-viewport] foreignObject.group')) {
    const label = node.querySelector('[data-tooltip]');
    const name = label ? label.getAttribute('data-tooltip') : (node.innerText || '').split('\\n')[0];
    const r = (label || node).getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const onScreen = r.width > 0 && r.height > 0 && x >= 0 && y >= 0
      && x < window.innerWidth && y < window.innerHeight;
    const top = onScreen ? document.elementFromPoint(x, y) : null;
    out.push({name: (name || '').trim(), visible: !!top && node.contains(top),
              x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height)});
  }
  return out;
}
"""


class WebserverError(ServerError):
    """The Dagster webserver did not start or its code location did not load."""

    server = "dagster-webserver"


@dataclass(frozen=True)
class Screenshot:
    """What :func:`screenshot_asset_graph` produced."""

    path: Path
    groups: list[str]  # group names drawn and not covered, top to bottom
    width: int
    height: int
    dismissed_dialog: bool
    seconds: float


def department_groups(home: str | Path | None = None) -> list[str]:
    """The asset groups the workspace should show: departments that provide a dataset in ``home``."""
    from registry.load import load_valid_home

    registry, _ = load_valid_home(home or os.environ.get("GOVREG_HOME") or CITY)
    return sorted({ds.provider for ds in registry.datasets.values()})


def _graphql(base_url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload: dict[str, Any] = json.load(response)
    if payload.get("errors"):
        raise ScreenshotError(f"GraphQL error from the webserver: {payload['errors']}")
    data: dict[str, Any] = payload["data"]
    return data


_LOCATIONS_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message } } }
"""


def _wait_until_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path, deadline: float) -> None:
    """Poll ``/server_info``, then the workspace, until every code location has loaded."""

    def fail(message: str) -> WebserverError:
        return WebserverError(message, _ANSI.sub("", log.read_text(errors="replace")))

    answered = False
    while True:
        if proc.poll() is not None:
            raise fail(f"dagster-webserver exited with status {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            state = "its code location did not load" if answered else "it did not answer"
            raise fail(f"dagster-webserver was not ready in time: {state}")
        try:
            if not answered:
                with urllib.request.urlopen(f"{base_url}/server_info", timeout=2) as response:
                    answered = response.status == 200
            if answered:
                workspace = _graphql(base_url, _LOCATIONS_QUERY)["workspaceOrError"]
                if workspace["__typename"] != "Workspace":
                    raise fail(f"the workspace did not load: {workspace.get('message')}")
                entries = workspace["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    for entry in entries:
                        loaded = entry["locationOrLoadError"] or {}
                        if loaded.get("__typename") == "PythonError":
                            raise fail(f"code location {entry['name']} failed to load: {loaded['message']}")
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop the webserver and its code server (same process group): TERM, bounded wait, KILL."""
    pgid = proc.pid  # started with start_new_session=True, so it leads its own group
    stop(proc, grace)
    end = time.monotonic() + 5.0
    while time.monotonic() < end:  # the gRPC code server exits on its own once the webserver is gone
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def dagster_webserver(workspace: Path = WORKSPACE, *, timeout: float = 60.0) -> Iterator[str]:
    """Run ``dagster-webserver`` for ``workspace`` with a temporary DAGSTER_HOME; yield its base URL."""
    with tempfile.TemporaryDirectory(prefix="govreg-dagster-home-") as tmp:
        home = Path(tmp)
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
        log = home / "webserver.log"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        executable = Path(sys.executable).with_name("dagster-webserver")
        command = [str(executable), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
        with log.open("wb") as sink:
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=workspace.parent,
                    env={**os.environ, "DAGSTER_HOME": str(home)},
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise WebserverError(f"cannot run {executable}: {exc}", "") from exc
            try:
                _wait_until_ready(proc, base_url, log, time.monotonic() + timeout)
                yield base_url
            finally:
                _stop(proc)


def _settled_groups(page: Any, deadline: float) -> list[dict[str, Any]]:
    """Group nodes once their positions stop changing (the graph zooms to fit after layout)."""
    previous: list[dict[str, Any]] | None = None
    while True:
        current: list[dict[str, Any]] = page.evaluate(_GROUPS_JS)
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current
        page.wait_for_timeout(400)


def capture_asset_graph(
    base_url: str, out: Path, expect: Sequence[str] = (), *, timeout: float = 60.0
) -> tuple[list[str], bool]:
    """Open the global asset lineage in headless Chromium and write a full-page PNG to ``out``.

    Returns the visible group names (top to bottom) and whether the community dialog was dismissed.
    Raises :class:`ScreenshotError` if an expected group is not visible; the page is then saved next to
    ``out`` as ``<name>.failed.png`` for inspection.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise ScreenshotError(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh")
    deadline = time.monotonic() + timeout
    wanted = sorted(set(expect))
    # The dialog shows until someone dismisses it on this instance; ask rather than guess.
    show_dialog = bool(_graphql(base_url, "{ shouldShowNux }")["shouldShowNux"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
            )
        except PlaywrightError as exc:
            raise ScreenshotError(f"cannot launch {CHROMIUM}: {exc}") from exc
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1)
            failed = out.with_name(f"{out.stem}.failed.png")
            try:
                page.goto(f"{base_url}{GRAPH_PATH}", wait_until="domcontentloaded")
                dismissed = False
                if show_dialog:
                    skip = page.get_by_role("button", name="Skip", exact=True)
                    skip.click(timeout=remaining(deadline, "waiting for the community dialog") * 1000)
                    skip.wait_for(state="hidden", timeout=remaining(deadline, "closing the dialog") * 1000)
                    dismissed = True
                    # The pointer rests where Skip was, which would hover (highlight) a graph node.
                    page.mouse.move(WIDTH - 60, HEIGHT // 2)
                with contextlib.suppress(PlaywrightError):  # a timeout is reported below, with details
                    page.wait_for_function(
                        f"""() => {{
                          const want = {json.dumps(wanted)};
                          const seen = new Set(({_GROUPS_JS})().filter(g => g.visible).map(g => g.name));
                          return seen.size > 0 && want.every(name => seen.has(name));
                        }}""",
                        timeout=remaining(deadline, "waiting for the asset graph") * 1000,
                        polling=250,
                    )
                page.evaluate("document.fonts.ready.then(() => true)")
                groups = _settled_groups(page, min(deadline, time.monotonic() + 5))
            except PlaywrightError as exc:
                with contextlib.suppress(PlaywrightError):
                    page.screenshot(path=str(failed), full_page=True)
                raise ScreenshotError(
                    f"browser step failed on {GRAPH_PATH} (page saved to {failed}): {exc}"
                ) from exc
            visible = [g["name"] for g in sorted(groups, key=lambda g: (g["y"], g["x"])) if g["visible"]]
            missing = [name for name in wanted if name not in visible]
            if missing or not visible:
                page.screenshot(path=str(failed), full_page=True)
                raise ScreenshotError(
                    f"groups not visible in {GRAPH_PATH}: {missing or 'none at all'}; "
                    f"visible: {visible}; drawn: {[g['name'] for g in groups]}; page saved to {failed}"
                )
            page.screenshot(path=str(out), full_page=True)
            return visible, dismissed
        finally:
            browser.close()


def screenshot_asset_graph(
    out: Path = DEFAULT_OUT,
    expect: Sequence[str] = (),
    *,
    workspace: Path = WORKSPACE,
    timeout: float = 90.0,
) -> Screenshot:
    """Start the webserver, screenshot the global asset lineage to ``out``, stop the server.

    ``expect`` names asset groups that must be visible; the whole run is bounded by ``timeout``
    seconds (the webserver gets at most two thirds of it to start).
    """
    started = time.monotonic()
    deadline = started + timeout
    with dagster_webserver(workspace, timeout=timeout * 2 / 3) as base_url:
        visible, dismissed = capture_asset_graph(
            base_url, out, expect, timeout=remaining(deadline, "before opening the browser")
        )
    width, height = png_size(out)
    return Screenshot(out, visible, width, height, dismissed, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    parser.add_argument("--workspace", type=Path, default=WORKSPACE, help="Dagster workspace.yaml")
    parser.add_argument(
        "--expect",
        action="append",
        metavar="GROUP",
        help="asset group that must be visible (repeatable; default: the registry's dataset providers)",
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="overall bound in seconds")
    args = parser.parse_args(argv)
    try:
        expect = args.expect if args.expect is not None else department_groups()
        shot = screenshot_asset_graph(
            args.out.resolve(), expect, workspace=args.workspace.resolve(), timeout=args.timeout
        )
    except ScreenshotError as exc:
        print(f"screenshot_dagster: {exc}", file=sys.stderr)
        return 1
    size_kb = shot.path.stat().st_size / 1024
    print(f"visible groups: {', '.join(shot.groups)}")
    dialog = "dismissed the community dialog" if shot.dismissed_dialog else "no community dialog"
    print(
        f"wrote {shot.path} ({shot.width}x{shot.height}, {size_kb:.0f} KB) in {shot.seconds:.1f} s; {dialog}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
