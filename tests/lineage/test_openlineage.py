"""OpenLineage export: RunEvents that openlineage-python's own typed classes accept unchanged.

openlineage-python 1.54.0 ships no JSON schema files (only classes generated from the spec), so
each event is rebuilt from the package's ``event_v2`` / ``facet_v2`` classes, serialized by its
``Serde`` and must come back as the same document; the spec's required fields are checked too.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, extraction_error_run, sql_job
from openlineage.client.serde import Serde

from lineage.models import ColumnEdge, ColumnRef, StatementLineage
from lineage.openlineage import to_run_events
from lineage.parse import extract_lineage
from lineage.schema import registry_schema
from registry.load import load_valid_home
from tests.support.cli import govreg
from tests.support.paths import ROOT

CITY = ROOT / "examples" / "city"
PRODUCER = "https://example.org/govreg-tests"


def check(event: dict[str, Any]) -> None:
    """The spec's required parts, then a round trip through the client's typed classes."""
    assert event["eventType"] in ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
    assert event["eventTime"].endswith("Z") or "+" in event["eventTime"]
    assert event["producer"] and event["schemaURL"].startswith("https://openlineage.io/spec/")
    assert uuid.UUID(event["run"]["runId"])
    assert event["job"]["namespace"] and event["job"]["name"]
    for part in (event["run"], event["job"], *event["inputs"], *event["outputs"]):
        for facet in part.get("facets", {}).values():
            assert facet["_producer"] and facet["_schemaURL"].startswith(
                "https://openlineage.io/spec/facets/"
            )
    assert comparable(rebuilt(event)) == comparable(event)


def rebuilt(event: dict[str, Any]) -> dict[str, Any]:
    """The event rebuilt from openlineage-python's typed classes, serialized by its Serde."""

    def lineage(facet: dict[str, Any]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
        fields = {
            name: column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=f["namespace"],
                        name=f["name"],
                        field=f["field"],
                        transformations=[
                            column_lineage_dataset.Transformation(**t) for t in f["transformations"]
                        ],
                    )
                    for f in spec["inputFields"]
                ]
            )
            for name, spec in facet["fields"].items()
        }
        return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=facet["_producer"])

    run_facets: dict[str, Any] = {}
    if "extractionError" in event["run"]["facets"]:
        e = event["run"]["facets"]["extractionError"]
        run_facets["extractionError"] = extraction_error_run.ExtractionErrorRunFacet(
            totalTasks=e["totalTasks"],
            failedTasks=e["failedTasks"],
            errors=[extraction_error_run.Error(**x) for x in e["errors"]],
            producer=e["_producer"],
        )
    job_facets: dict[str, Any] = {}
    if "sql" in event["job"]["facets"]:
        s = event["job"]["facets"]["sql"]
        job_facets["sql"] = sql_job.SQLJobFacet(
            query=s["query"], dialect=s.get("dialect"), producer=s["_producer"]
        )
    typed = RunEvent(
        eventType=RunState[event["eventType"]],
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=Run(runId=event["run"]["runId"], facets=run_facets),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"], facets=job_facets),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in event["inputs"]],
        outputs=[
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets={"columnLineage": lineage(d["facets"]["columnLineage"])} if "facets" in d else {},
            )
            for d in event["outputs"]
        ],
    )
    return Serde.to_dict(typed)


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    """Empty optional parts (facet maps, the dataset-wide lineage list) are the same as absent."""
    out = json.loads(json.dumps(event))
    for dataset in out["inputs"] + out["outputs"]:
        for key in ("inputFacets", "outputFacets"):
            if not dataset.get(key):
                dataset.pop(key, None)
        dataset.setdefault("facets", {})
        lineage = dataset["facets"].get("columnLineage", {})
        if lineage.get("dataset") == []:
            del lineage["dataset"]
    return out


def city_events() -> list[dict[str, Any]]:
    registry, _ = load_valid_home(CITY)
    schema = registry_schema(registry)
    queries = {**registry.views, **registry.indicators}
    statements = {
        code: extract_lineage(q.query or "", q.dialect, schema=schema, default_target=code)
        for code, q in queries.items()
    }
    return to_run_events(
        statements,
        f"govreg://{registry.settings.name}",
        PRODUCER,
        queries={c: q.query or "" for c, q in queries.items()},
        dialects={c: q.dialect for c, q in queries.items()},
    )


def test_city_events_are_accepted_by_the_client_classes() -> None:
    events = city_events()
    assert [e["job"]["name"] for e in events] == [
        "enterprise_360",
        "enterprise_credit_score",
        "service_bottleneck_stats",
        "data_freshness",
        "enterprises_with_unpaid_judgments",
        "shared_item_ratio",
    ]
    facets = 0
    for event in events:
        check(event)
        assert event["eventType"] == "COMPLETE"
        for output in event["outputs"]:
            facet = output["facets"]["columnLineage"]
            assert facet["_producer"] == PRODUCER and facet["_schemaURL"].endswith(
                "ColumnLineageDatasetFacet"
            )
            facets += 1
        sql = event["job"]["facets"]["sql"]
        assert sql["dialect"] == "duckdb" and sql["_producer"] == PRODUCER
    assert facets == len(events)
    assert len({e["run"]["runId"] for e in events}) == len(events)


def test_city_column_lineage_maps_kinds_to_transformations() -> None:
    by_job = {e["job"]["name"]: e for e in city_events()}
    e360 = by_job["enterprise_360"]
    assert e360["job"]["namespace"] == "govreg://山城市政务数据资源目录"
    assert {"namespace": e360["job"]["namespace"], "name": "tax_payment"} in e360["inputs"]
    assert [o["name"] for o in e360["outputs"]] == ["enterprise_360"]
    fields = e360["outputs"][0]["facets"]["columnLineage"]["fields"]

    def transformations(column: str, table: str, field: str) -> list[dict[str, str]]:
        [source] = [f for f in fields[column]["inputFields"] if (f["name"], f["field"]) == (table, field)]
        return source["transformations"]

    assert transformations("enterprise_name", "enterprise_registration", "enterprise_name") == [
        {"type": "DIRECT", "subtype": "IDENTITY"}
    ]
    assert {"type": "DIRECT", "subtype": "AGGREGATION"} in transformations(
        "tax_paid_amount", "tax_payment", "tax_paid_amount"
    )
    # the join key shapes every column without flowing into it
    assert {"type": "INDIRECT"} in transformations("enterprise_name", "tax_registration", "uscc")
    score = by_job["enterprise_credit_score"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    grade = {(f["name"], f["field"]) for f in score["credit_grade"]["inputFields"]}
    assert ("tax_registration", "tax_credit_rating") in grade


def test_failed_and_partial_statements_are_an_extraction_error_facet() -> None:
    edge = ColumnEdge(ColumnRef("t", "a"), ColumnRef("v", "a"), "direct")
    statements = [
        StatementLineage(0, "select a from t", ("t",), ("v",), (edge,)),
        StatementLineage(1, "select * from u", ("u",), ("v",), status="partial", reason="star"),
        StatementLineage(2, "selec", status="failed", reason="Invalid expression"),
    ]
    [event] = to_run_events({"job": statements}, "ns", PRODUCER)
    check(event)
    facet = event["run"]["facets"]["extractionError"]
    assert (facet["totalTasks"], facet["failedTasks"]) == (3, 1)
    assert [e["taskNumber"] for e in facet["errors"]] == [1, 2]
    assert [i["name"] for i in event["inputs"]] == ["t", "u"]


def _drop_run_id(e: dict[str, Any]) -> None:
    e["run"]["runId"] = "run-1"


def _unknown_field(e: dict[str, Any]) -> None:
    e["outputs"][0]["facets"]["columnLineage"]["fields"]["tax_paid_amount"]["inputFields"][0]["extra"] = 1


def _no_producer(e: dict[str, Any]) -> None:
    e["job"]["facets"]["sql"]["_producer"] = ""


def _renamed_transformation(e: dict[str, Any]) -> None:
    fields = e["outputs"][0]["facets"]["columnLineage"]["fields"]
    fields["enterprise_name"]["inputFields"][0]["transformations"][0]["kind"] = "DIRECT"


def _lost_input(e: dict[str, Any]) -> None:
    e["inputs"][0]["namespace"] = None


@pytest.mark.parametrize(
    "corrupt", [_drop_run_id, _unknown_field, _no_producer, _renamed_transformation, _lost_input]
)
def test_the_check_refuses_an_event_govreg_could_have_got_wrong(corrupt: Any) -> None:
    """The check can fail: a real exported event, broken the ways an exporter could break it
    (a run id that is no UUID, a field the spec does not have, an empty producer, a renamed
    transformation key, a dataset without its namespace), is refused by the spec checks or by
    the round trip through openlineage-python's classes."""
    event = copy.deepcopy(next(e for e in city_events() if e["job"]["name"] == "enterprise_360"))
    check(copy.deepcopy(event))  # the unbroken event passes
    corrupt(event)
    with pytest.raises((AssertionError, TypeError, ValueError, KeyError)):
        check(event)


def test_export_command_writes_one_event_a_line(tmp_path: Path) -> None:
    result = govreg(
        "export", "--format", "openlineage", "--home", str(CITY), "--out", "events.jsonl", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    events = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(events) == 6
    for event in events:
        check(event)
        assert event["job"]["namespace"] == "govreg://山城市政务数据资源目录"
    stdout = govreg("export", "--home", str(CITY), cwd=tmp_path)
    assert len(stdout.stdout.splitlines()) == 6
    wrong = govreg("export", "--format", "dot", "--home", str(CITY), cwd=tmp_path)
    assert wrong.returncode == 2
