"""Benchmark: how long the command line takes to answer, against what it cannot avoid paying.

Each pair is timed in turn (target, baseline, target, ...), in fresh processes, best of N:

* ``govreg --help`` against ``python -c "import typer, rich"``. Target: at most 2.
* ``govreg validate`` of the sample city's YAML declarations (a copy of ``examples/city`` with its
  ``suites/`` set aside) against a process that imports what validation really needs (typer, rich,
  pydantic, sqlglot, sqlalchemy) and ``yaml.safe_load``s the same files. Target: at most 2.
* ``validate_with_suites``: the whole sample city, suites included, against the same baseline,
  the suites already known to pass (an unchanged home validated again). Target: at most 2.
* ``validate_with_suites_cold``: the same with nothing known (``GOVREG_CACHE_DIR=off``), for
  information (no target): a suite not seen before pays for importing Great Expectations (seconds,
  nearly all of it GX's own ``import great_expectations``); govreg checks each suite with GX's own
  API rather than guess what GX accepts, and remembers a pass by the suite's bytes, its dataset's
  columns and the GX and govreg versions.

    python bench/cli.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "examples" / "city"
GOVREG = [sys.executable, "-m", "govreg"]

IMPORTS = "import typer, rich"
LIBRARIES = (
    "import pathlib, typer, rich, pydantic, sqlglot, sqlalchemy, yaml\n"
    "for path in sorted(pathlib.Path({home!r}).rglob('*.y*ml')):\n"
    "    yaml.safe_load(path.read_text(encoding='utf-8'))\n"
)
TARGETS = {"help": 2.0, "validate": 2.0, "validate_with_suites": 2.0}


def run(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, cwd=ROOT, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # validate exits 1 on a home with errors: still a measurement
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def pair(
    target: list[str], baseline: list[str], repeat: int, env: dict[str, str] | None = None
) -> dict[str, float]:
    best = [float("inf"), float("inf")]
    run(target, env), run(baseline)  # warm the file cache (and the cache of passed suites)
    for _ in range(repeat):
        best[0] = min(best[0], run(target, env))
        best[1] = min(best[1], run(baseline))
    return {
        "seconds": round(best[0], 3),
        "baseline_seconds": round(best[1], 3),
        "ratio": round(best[0] / best[1], 2),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="govreg-bench-cli-") as scratch:
        declarations = Path(scratch) / "city"
        shutil.copytree(CITY, declarations, ignore=shutil.ignore_patterns("suites"))
        baseline = [sys.executable, "-c", LIBRARIES.format(home=str(declarations))]
        cached = {**os.environ, "GOVREG_CACHE_DIR": str(Path(scratch) / "cache")}  # a cache of its own
        figures: dict[str, Any] = {
            "help": pair([*GOVREG, "--help"], [sys.executable, "-c", IMPORTS], args.repeat),
            "validate": pair([*GOVREG, "validate", "--home", str(declarations)], baseline, args.repeat),
            "validate_with_suites": pair(
                [*GOVREG, "validate", "--home", str(CITY)], baseline, args.repeat, {**cached}
            ),
            "validate_with_suites_cold": pair(
                [*GOVREG, "validate", "--home", str(CITY)],
                baseline,
                1,
                {**os.environ, "GOVREG_CACHE_DIR": "off"},
            ),
        }
    for name, target in TARGETS.items():
        figures[name]["target"] = target
        figures[name]["met"] = figures[name]["ratio"] <= target
    if args.json:
        print(json.dumps(figures))
    else:
        for name, f in figures.items():
            verdict = (
                f"(target ≤ {f['target']}) {'met' if f['met'] else 'NOT met'}"
                if "target" in f
                else "(information)"
            )
            print(
                f"{name:<20} {f['seconds']:>7.3f} s vs baseline {f['baseline_seconds']:.3f} s: "
                f"{f['ratio']}x {verdict}"
            )
    return figures


if __name__ == "__main__":
    main()
