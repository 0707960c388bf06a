"""The real ``govreg`` command, run as a subprocess the way a person runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import CITY

__all__ = ["CITY", "GOVREG", "govreg"]


GOVREG = [sys.executable, "-m", "govreg"]


def govreg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command. The timeout only stops a hung command: a loaded 2-core machine runs
    the demo in minutes, and no test may fail for being slow."""
    full_env = {**os.environ, "COLUMNS": "200", "GOVREG_ACTOR": "cli-tester", **(env or {})}
    return subprocess.run(
        [*GOVREG, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900, check=False
    )
