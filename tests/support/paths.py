"""Where things are: the repository, the sample city, the benchmarks, the fixture homes."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITY = ROOT / "examples" / "city"
BENCH = ROOT / "bench"
FIXTURES = ROOT / "tests" / "fixtures"
HOMES = FIXTURES / "homes"
