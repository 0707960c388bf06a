"""Asset checks generated from the registry: each dataset's standards, and its GX suite if it has one.

A check fails with severity ERROR — and, being blocking, keeps the views built on the dataset
from materializing — when a critical expectation fails or an expectation could not run; it fails
with WARN when only warnings fail. Every result goes to the metadata store with the run id.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from expectations.derive import standards_for
from expectations.run import Outcome, Validation, validate_table
from expectations.suites import LoadedSuite
from pipelines.assets import POOL, dataset_key
from pipelines.resources import GovregResource
from registry.home import Registry
from registry.model import Dataset
from registry.store.quality import expectation_score, record_results


def check_result(validation: Validation, validation_id: str) -> dg.AssetCheckResult:
    outcomes = validation.outcomes
    critical = [o for o in outcomes if o.status == "failed" and o.severity == "critical"]
    errors = [o for o in outcomes if o.status == "error"]
    warned = [o for o in outcomes if o.status == "failed" and o.severity != "critical"]
    severity = dg.AssetCheckSeverity.ERROR if critical or errors else dg.AssetCheckSeverity.WARN
    scores = [
        s
        for s in (
            expectation_score({"status": o.status, "unexpected_percent": o.unexpected_percent})
            for o in outcomes
        )
        if s is not None
    ]
    return dg.AssetCheckResult(
        passed=not (critical or errors or warned),
        severity=severity,
        description=_describe(critical, errors, warned, len(outcomes)),
        metadata={
            "passed": sum(o.status == "passed" for o in outcomes),
            "failed": len(critical) + len(warned),
            "errors": len(errors),
            "score": round(100 * sum(scores) / len(scores), 2) if scores else 0.0,
            "validation_id": validation_id,
            "results": dg.MetadataValue.md(_table(outcomes)),
            "unexpected": dg.MetadataValue.json(
                {
                    o.key: {
                        "unexpected_count": o.unexpected_count,
                        "unexpected_percent": o.unexpected_percent,
                        "severity": o.severity,
                        "status": o.status,
                        "samples": list(o.samples),
                        "message": o.message,
                    }
                    for o in outcomes
                    if o.status != "passed"
                }
            ),
        },
    )


def _describe(critical: list[Outcome], errors: list[Outcome], warned: list[Outcome], total: int) -> str:
    if not (critical or errors or warned):
        return f"all {total} expectations passed"
    parts = [
        f"{len(x)} {label}: {', '.join(o.key for o in x)}"
        for x, label in ((critical, "critical failed"), (errors, "could not run"), (warned, "warnings"))
        if x
    ]
    return "; ".join(parts)


def _table(outcomes: list[Outcome]) -> str:
    lines = [
        "| expectation | severity | status | unexpected | % | samples |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in sorted(outcomes, key=lambda o: (o.status == "passed", o.key)):
        pct = "" if o.unexpected_percent is None else f"{o.unexpected_percent:.3f}"
        detail = o.message if o.status == "error" else ", ".join(o.samples[:5])
        count = "" if o.unexpected_count is None else str(o.unexpected_count)
        lines.append(
            f"| {o.key} | {o.severity} | {o.status} | {count} | {pct} | {(detail or '').replace('|', '/')} |"
        )
    return "\n".join(lines)


def _check(
    registry: Registry, ds: Dataset, name: str, description: str, build: Any
) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dataset_key(ds), name=name, description=description, blocking=True, pool=POOL)
    def _run(
        context: dg.AssetCheckExecutionContext, govreg: GovregResource, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        validation = validate_table(govreg.registry, ds, Path(duckdb.database), build(govreg), suite=name)
        validation_id = record_results(
            govreg.store,
            ds.provider,
            [{**o.to_json(), "kwargs": o.kwargs} for o in validation.outcomes],
            run_id=context.run.run_id,
        )
        return check_result(validation, validation_id)

    return _run


def dataset_checks(
    registry: Registry, ds: Dataset, suite: LoadedSuite | None
) -> list[dg.AssetChecksDefinition]:
    checks = [
        _check(
            registry,
            ds,
            "standards",
            f"The value domains of the {len(ds.columns)} elements '{ds.code}' carries, its required "
            "columns and key uniqueness, derived from the registry (critical ones block downstream).",
            lambda govreg: standards_for(govreg.registry, ds),
        )
    ]
    if suite is not None:
        checks.append(
            _check(
                registry,
                ds,
                "suite",
                f"Great Expectations suite {suite.file}",
                lambda govreg: suite.suite.expectations,
            )
        )
    return checks


def build_checks(registry: Registry, suites: dict[str, LoadedSuite]) -> list[dg.AssetChecksDefinition]:
    return [
        c for code, ds in registry.datasets.items() for c in dataset_checks(registry, ds, suites.get(code))
    ]
