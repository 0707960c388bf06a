"""Asset checks generated from the registry: each dataset's standards, and its GX suite if it has one.

The checks are evaluated by the dataset's own asset on the staged extract, before it is
published (:mod:`expectations.gate`). A check fails with severity ERROR — and the extract does
not go live, and the views built on the dataset do not run — when a critical expectation fails
or an expectation could not run; it fails with WARN when only warnings fail. Every result goes
to the metadata store with the run id.
"""

import dagster as dg

from expectations.gate import STANDARDS, SUITE
from expectations.run import Outcome, Validation
from expectations.suites import LoadedSuite
from registry.model import Dataset
from registry.store import Store
from registry.store.quality import expectation_score, record_results


def check_result(
    validation: Validation, validation_id: str, check_name: str | None = None, note: str | None = None
) -> dg.AssetCheckResult:
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
        check_name=check_name,
        passed=not (critical or errors or warned),
        severity=severity,
        description=(f"{note}: " if note else "") + _describe(critical, errors, warned, len(outcomes)),
        metadata={
            "passed": sum(o.status == "passed" for o in outcomes),
            "failed": len(critical) + len(warned),
            "errors": len(errors),
            "score": round(100 * sum(scores) / len(scores), 2) if scores else 0.0,
            "validation_id": validation_id,
            "results": _table(outcomes),
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


RESULTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("expectation", "string", description="The expectation's key (rule:column)."),
        dg.TableColumn("severity", "string", description="critical (blocks the load) or warning."),
        dg.TableColumn("status", "string", description="passed, failed, or error (could not run)."),
        dg.TableColumn("unexpected", "int", description="Rows that broke it."),
        dg.TableColumn("percent", "float", description="Of the rows checked, in %."),
        dg.TableColumn("samples", "string", description="Masked samples, or why it could not run."),
    ]
)
"""The check results table: one row an expectation, as Dagster renders a table (masked samples
such as ``5102**********1662`` and ``<null>`` shown as text, not read as Markdown)."""


def _table(outcomes: list[Outcome]) -> dg.TableMetadataValue:
    records = []
    for o in sorted(outcomes, key=lambda o: (o.status == "passed", o.key)):
        detail = o.message if o.status == "error" else ", ".join(o.samples[:5])
        fields: dict[str, str | int | float | bool | None] = {  # every record holds every column
            "expectation": o.key,
            "severity": o.severity,
            "status": o.status,
            "unexpected": None if o.unexpected_count is None else int(o.unexpected_count),
            "percent": None if o.unexpected_percent is None else round(float(o.unexpected_percent), 3),
            "samples": detail or "",
        }
        records.append(dg.TableRecord(fields))
    return dg.MetadataValue.table(records=records, schema=RESULTS_SCHEMA)


def check_specs(key: dg.AssetKey, ds: Dataset, suite: LoadedSuite | None) -> list[dg.AssetCheckSpec]:
    """The dataset's checks, evaluated by its own asset on the staged extract before it goes live."""
    specs = [
        dg.AssetCheckSpec(
            STANDARDS,
            asset=key,
            blocking=True,
            description=f"The value domains of the {len(ds.columns)} elements '{ds.code}' carries, its "
            "required columns, key uniqueness and the row drop against the last good load, derived "
            "from the registry; run on the staged extract, critical ones keep it from going live.",
        )
    ]
    if suite is not None:
        specs.append(
            dg.AssetCheckSpec(
                SUITE,
                asset=key,
                blocking=True,
                description=f"Great Expectations suite {suite.file}, run on the staged extract.",
            )
        )
    return specs


def check_results(
    store: Store, department: str, validations: dict[str, Validation], run_id: str
) -> list[dg.AssetCheckResult]:
    """Record every outcome in the metadata store and turn each validation into its check result."""
    results = []
    for name, validation in validations.items():
        validation_id = record_results(
            store,
            department,
            [{**o.to_json(), "kwargs": o.kwargs} for o in validation.outcomes],
            run_id=run_id,
        )
        results.append(check_result(validation, validation_id, name))
    return results


def standing_results(store: Store, ds: Dataset, names: list[str]) -> list[dg.AssetCheckResult]:
    """The check results of the live table, for a run that loads nothing new (the extract was
    loaded before): each check reports what the live table's last validation found, so a blocking
    check is never left without a result and the views that read the table are judged on it."""
    from json import loads

    from registry.store.quality import latest_results

    stored = latest_results(store, ds.code)
    results = []
    for name in names:
        rows = [r for r in stored if r["suite"] == name]
        if not rows:
            continue
        outcomes = [
            Outcome(
                dataset=ds.code,
                suite=name,
                key=r["key"],
                expectation_type=r["expectation_type"],
                kwargs=loads(r["kwargs"] or "{}"),
                columns=tuple(r["columns"]),
                element=r["element"],
                rule=r["rule"],
                severity=r["severity"],
                status=r["status"],
                element_count=r["element_count"],
                unexpected_count=r["unexpected_count"],
                unexpected_percent=r["unexpected_percent"],
                samples=tuple(r["samples"]),
                message=r["message"],
            )
            for r in rows
        ]
        results.append(
            check_result(
                Validation(ds.code, name, outcomes),
                rows[0]["validation_id"],
                name,
                note=f"extract unchanged; the live table's results of {rows[0]['validated_at']} stand",
            )
        )
    return results
