"""The quality gate of a load: which expectations a staged extract must meet before it is published.

A new extract is validated on its staging table (write, audit, publish). Blocking are:

* every **critical** standard (required, unique key, check character) that fails beyond its
  tolerance, and every critical expectation of the dataset's suite;
* **max_row_drop**: the staged table may not have lost more than the dataset's tolerated share
  of rows against the last published load (``max_row_drop`` on the dataset, else
  ``registry.yaml``'s, default 0.2): a file cut short, or half-sent, parses but must not go live;
* any expectation that **could not run** (an error is never a pass).

Warnings fail their check with WARN and do not block.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import FailureSeverity

from expectations.derive import standards_for
from expectations.run import Outcome, Validation, validate_table
from expectations.suites import LoadedSuite
from registry.home import Registry
from registry.model import Dataset

STANDARDS, SUITE = "standards", "suite"


def row_drop_tolerance(registry: Registry, ds: Dataset) -> float:
    return ds.max_row_drop if ds.max_row_drop is not None else registry.settings.max_row_drop


def row_drop_expectation(
    registry: Registry, ds: Dataset, previous_rows: int | None
) -> gxe.Expectation | None:
    """``expect_table_row_count_to_be_between`` with the least count the tolerance allows.

    None before the first published load (nothing to compare against).
    """
    if not previous_rows:
        return None
    tolerance = row_drop_tolerance(registry, ds)
    least = math.ceil(previous_rows * (1 - tolerance))
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=least,
        max_value=None,
        severity=FailureSeverity.CRITICAL,
        meta={
            "govreg": {
                "key": "max_row_drop",
                "rule": "max_row_drop",
                "element": None,
                "columns": [],
                "source": "standard",
                "previous_rows": previous_rows,
                "max_row_drop": tolerance,
            }
        },
    )


def gate_expectations(
    registry: Registry,
    ds: Dataset,
    suite: LoadedSuite | None,
    previous_rows: int | None,
    today: date | None = None,
) -> dict[str, list[gxe.Expectation]]:
    """Check name → the expectations run on a staged extract."""
    standards = standards_for(registry, ds, today)
    drop = row_drop_expectation(registry, ds, previous_rows)
    checks = {STANDARDS: [*standards, *([drop] if drop is not None else [])]}
    if suite is not None:
        checks[SUITE] = list(suite.suite.expectations)
    return checks


def validate_staged(
    registry: Registry,
    ds: Dataset,
    warehouse: Path,
    table: str,
    checks: dict[str, list[gxe.Expectation]],
) -> dict[str, Validation]:
    """Run each check's expectations on ``table`` (the staging table) in the DuckDB file."""
    return {
        name: validate_table(registry, ds, warehouse, expectations_, suite=name, table=table)
        for name, expectations_ in checks.items()
    }


def blocking(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """The outcomes that keep a load from going live: critical failures and errors."""
    return [o for o in outcomes if o.status == "error" or (o.status == "failed" and o.severity == "critical")]


@dataclass(frozen=True)
class GateDecision:
    validations: dict[str, Validation]

    @property
    def blocked_by(self) -> list[Outcome]:
        return [o for v in self.validations.values() for o in blocking(v.outcomes)]

    @property
    def passed(self) -> bool:
        return not self.blocked_by

    def reasons(self) -> list[str]:
        """One line per blocking outcome: ``standards/check_digit:uscc failed: 12.7 % unexpected``."""
        return [describe(o) for o in self.blocked_by]


def describe(o: Outcome) -> str:
    if o.status == "error":
        return f"{o.suite}/{o.key} could not run: {o.message}"
    if o.key == "max_row_drop":
        observed = o.observed if o.observed is not None else "?"
        least = o.kwargs.get("min_value")
        return f"{o.suite}/max_row_drop failed: {observed} rows, at least {least} expected"
    pct = "" if o.unexpected_percent is None else f": {o.unexpected_percent:.2f} % unexpected"
    count = "" if o.unexpected_count is None else f" ({o.unexpected_count} values)"
    return f"{o.suite}/{o.key} failed{pct}{count}"
