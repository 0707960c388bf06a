"""What the screenshot scripts share: Debian's Chromium, a free port, deadlines, stopping servers.

Both ``screenshot_dagster.py`` and ``screenshot_graphiql.py`` drive ``/usr/bin/chromium``
(installed by ``scripts/ensure-chromium.sh``) through Playwright, against a server they start on
127.0.0.1 and stop by process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless and a fresh temporary --user-data-dir itself. Without the
# background-networking flags Chromium keeps calling out to a network this machine does not have.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class ScreenshotError(RuntimeError):
    """The screenshot could not be taken; the message says why."""


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file; raise :class:`ScreenshotError` if it is not a PNG."""
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ScreenshotError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remaining(deadline: float, what: str) -> float:
    """Seconds left before ``deadline``; raise :class:`ScreenshotError` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ScreenshotError(f"timed out {what}")
    return left


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server that leads its own process group: TERM, bounded wait, KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


class ServerError(ScreenshotError):
    """The server behind the page did not start; carries what it printed."""

    server = "server"

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output

    def __str__(self) -> str:
        return f"{self.args[0]}\n--- {self.server} output ---\n{self.output.rstrip()}"
