"""Lineage as OpenLineage ``RunEvent`` documents (spec 2-0-2), as plain JSON-ready dicts.

One ``COMPLETE`` event per job (a view or an indicator): its inputs are the tables its statements
read, its outputs the tables they write, and each output carries the ``columnLineage`` dataset
facet (1-2-0) mapping every output column to the input columns it is computed from. Edge kinds
become transformations:

=============== ============ =================
govreg kind     type         subtype
=============== ============ =================
direct          DIRECT       IDENTITY
transformation  DIRECT       TRANSFORMATION
aggregation     DIRECT       AGGREGATION
indirect        INDIRECT     (none: the clause — filter, join, group, sort — is not recorded)
=============== ============ =================

The job carries the ``sql`` facet (1-1-0) when its query text is given, and the run the
``extractionError`` facet (1-1-2) when a statement could not be traced, or only in part.

>>> from lineage.models import ColumnEdge, ColumnRef, StatementLineage
>>> edge = ColumnEdge(ColumnRef("t", "a"), ColumnRef("v", "b"), "aggregation")
>>> [event] = to_run_events({"v": [StatementLineage(0, "select", ("t",), ("v",), (edge,))]}, "ns", "urn:x")
>>> event["outputs"][0]["facets"]["columnLineage"]["fields"]["b"]["inputFields"][0]["transformations"]
[{'type': 'DIRECT', 'subtype': 'AGGREGATION'}]
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lineage.models import RANK, ColumnRef, StatementLineage

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_SCHEMA = f"{SPEC}#/$defs/RunEvent"
COLUMN_LINEAGE_SCHEMA = (
    "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
)
SQL_JOB_SCHEMA = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet"
EXTRACTION_ERROR_SCHEMA = (
    "https://openlineage.io/spec/facets/1-1-2/ExtractionErrorRunFacet.json#/$defs/ExtractionErrorRunFacet"
)

TRANSFORMATIONS: dict[str, dict[str, str]] = {
    "direct": {"type": "DIRECT", "subtype": "IDENTITY"},
    "transformation": {"type": "DIRECT", "subtype": "TRANSFORMATION"},
    "aggregation": {"type": "DIRECT", "subtype": "AGGREGATION"},
    "indirect": {"type": "INDIRECT"},
}


def _facet(producer: str, schema_url: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema_url, **fields}


def _dataset(namespace: str, name: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": name}


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def column_lineage(
    statements: Sequence[StatementLineage], target: str, namespace: str, producer: str
) -> dict[str, Any] | None:
    """The ``columnLineage`` facet of output ``target``, or None when no column of it is traced."""
    by_column: dict[str, dict[ColumnRef, set[str]]] = {}
    for statement in statements:
        for edge in statement.columns:
            if edge.target.table == target:
                by_column.setdefault(edge.target.column, {}).setdefault(edge.source, set()).add(edge.kind)
    if not by_column:
        return None
    fields: dict[str, Any] = {}
    for column, sources in by_column.items():
        fields[column] = {
            "inputFields": [
                {
                    **_dataset(namespace, source.table),
                    "field": source.column,
                    "transformations": [
                        dict(TRANSFORMATIONS[kind]) for kind in sorted(kinds, key=lambda k: RANK.get(k, 9))
                    ],
                }
                for source, kinds in sorted(sources.items())
            ]
        }
    return _facet(producer, COLUMN_LINEAGE_SCHEMA, fields=fields)


def _extraction_errors(statements: Sequence[StatementLineage], producer: str) -> dict[str, Any] | None:
    troubled = [s for s in statements if s.status != "ok"]
    if not troubled:
        return None
    errors = [
        {
            "errorMessage": f"{s.status}: {s.reason or 'no reason given'}",
            "task": s.sql[:500],
            "taskNumber": s.index,
        }
        for s in troubled
    ]
    return _facet(
        producer,
        EXTRACTION_ERROR_SCHEMA,
        totalTasks=len(statements),
        failedTasks=sum(1 for s in statements if s.status == "failed"),
        errors=errors,
    )


def to_run_events(
    statements_by_job: Mapping[str, list[StatementLineage]],
    namespace: str,
    producer: str,
    *,
    event_time: datetime | None = None,
    queries: Mapping[str, str] | None = None,
    dialects: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One ``COMPLETE`` RunEvent per job; datasets and jobs share ``namespace``.

    ``producer`` is a URI naming the producing software; ``queries`` (job → SQL text) adds the
    job's ``sql`` facet, with the job's dialect from ``dialects`` when given.
    """
    when = (event_time or datetime.now(UTC)).isoformat()
    events: list[dict[str, Any]] = []
    for job, statements in statements_by_job.items():
        sources = _unique([s for statement in statements for s in statement.sources])
        targets = _unique([t for statement in statements for t in statement.targets])
        outputs = []
        for target in targets:
            output = _dataset(namespace, target)
            facet = column_lineage(statements, target, namespace, producer)
            if facet is not None:
                output["facets"] = {"columnLineage": facet}
            outputs.append(output)
        job_facets: dict[str, Any] = {}
        if queries and job in queries:
            dialect = (dialects or {}).get(job)
            sql = {"query": queries[job], **({"dialect": dialect} if dialect else {})}
            job_facets["sql"] = _facet(producer, SQL_JOB_SCHEMA, **sql)
        run_facets: dict[str, Any] = {}
        errors = _extraction_errors(statements, producer)
        if errors is not None:
            run_facets["extractionError"] = errors
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": when,
                "producer": producer,
                "schemaURL": RUN_EVENT_SCHEMA,
                "run": {"runId": str(uuid.uuid4()), "facets": run_facets},
                "job": {"namespace": namespace, "name": job, "facets": job_facets},
                "inputs": [_dataset(namespace, source) for source in sources],
                "outputs": outputs,
            }
        )
    return events
