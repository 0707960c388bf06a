"""Suites that Great Expectations itself saved run, and a GX 0.x suite is refused by name.

Each suite here is saved by the installed Great Expectations 1.x, as the README advises: built
with ``gx.ExpectationSuite``, added to an ephemeral context (which gives every expectation an
``id``), then ``json.dumps(suite.to_json_dict())`` into ``<home>/suites/ents.json``. The quality
gate runs the suite on the staged extract in a real Dagster run over a real DuckDB file, so an
expectation that errors blocks the load: the promise is that GX's own files pass good data, fail
bad data for the reason written in them, and never error.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import dagster as dg
import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import FailureSeverity
from stdnum.cn import uscc as stdnum_uscc
from typer.testing import CliRunner

from cli import app
from pipelines.assets import IngestConfig, dataset_key, op_name
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import Settings
from registry.load import load_valid_home

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
GOOD_ROWS = 1219
HOME = {
    "registry.yaml": 'registry:\n  name: 规则测试市\n  name_en: Suite city\n  division: "500000"\n'
    "  settle_seconds: 0\n",  # each file is written whole before its run
    "departments.yaml": "departments:\n"
    "  - {code: market, name: 规则测试市市场监督管理局, name_en: Suite City Market Regulation}\n",
    "elements.yaml": """\
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, required: true,
     domain: {check_digit: gb32100}, owner: market, status: standard}
  - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard}
  - {code: capital, name: 注册资本, name_en: Registered capital, type: currency, unit: 万元,
     owner: market, status: standard}
""",
    "datasets.yaml": """\
datasets:
  - code: ents
    name: 企业登记信息
    name_en: Enterprises
    provider: market
    key: [TYSHXYDM]
    columns:
      - {name: TYSHXYDM, element: uscc}
      - {name: QYMC, element: ent_name}
      - {name: ZCZB, element: capital}
""",
}


def uscc(i: int) -> str:
    body = f"91500000{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def rows(n: int) -> list[list[str]]:
    return [[uscc(i), f"企业{i}", str(10 + i % 50)] for i in range(n)]


def saved_by_gx(*expectations: gxe.Expectation) -> str:
    """The JSON text Great Expectations 1.x saves for a suite of ``expectations``."""
    context = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name="ents_rules")
    for expectation in expectations:
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    return json.dumps(suite.to_json_dict(), ensure_ascii=False, indent=2)


def gx_suite() -> str:
    return saved_by_gx(
        gxe.ExpectColumnValuesToNotBeNull(column="uscc"),
        gxe.ExpectColumnValuesToBeOfType(column="capital", type_="DECIMAL"),
        gxe.ExpectColumnValuesToBeOfType(column="ent_name", type_="VARCHAR"),
        gxe.ExpectColumnValuesToBeInTypeList(column="capital", type_list=["DECIMAL", "DOUBLE"]),
        gxe.ExpectColumnValuesToBeBetween(column="capital", min_value=1, max_value=100),
        gxe.ExpectColumnValuesToMatchRegex(column="ent_name", regex="^企业[0-9]+$"),
        gxe.ExpectColumnValuesToBeUnique(column="uscc"),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
    )


def home_with(root: Path, suite_text: str) -> Path:
    home = root / "home"
    for name, text in HOME.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    (home / "suites").mkdir()
    (home / "suites" / "ents.json").write_text(suite_text, encoding="utf-8")
    return home


def run(root: Path, home: Path, instance: dg.DagsterInstance, data: list[list[str]]) -> Any:
    settings = Settings(
        home=home,
        store_url=f"sqlite:///{root / 'store.db'}",
        data=root / "data",
        warehouse=root / "data" / "warehouse.duckdb",
        automation=False,
    )
    registry, _ = load_valid_home(home)
    key = dataset_key(registry.datasets["ents"])
    file = root / f"ents-{len(data)}.csv"
    with file.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["TYSHXYDM", "QYMC", "ZCZB"], *data])
    return (
        build_definitions(settings)
        .resolve_job_def(CITY_JOB)
        .execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[key],
            run_config={
                **QUIET,
                "ops": {op_name(key): {"config": IngestConfig(file=str(file)).model_dump()}},
            },
        )
    )


def suite_outcomes(result: Any) -> dict[str, dict[str, Any]]:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "suite"]
    return {**{k: v.value for k, v in evaluation.metadata.items()}, "check_passed": evaluation.passed}


def test_the_saved_file_carries_gx_ids_and_a_good_extract_goes_live(tmp_path: Path) -> None:
    text = gx_suite()
    saved = json.loads(text)
    assert len(saved["expectations"]) == 8
    assert all(e["id"] for e in saved["expectations"])  # what makes GX refuse to reuse them
    home = home_with(tmp_path, text)
    with dg.instance_for_test() as instance:
        result = run(tmp_path, home, instance, rows(GOOD_ROWS))
    outcome = suite_outcomes(result)
    assert result.success, outcome
    assert outcome["check_passed"] is True, outcome
    assert (outcome["passed"], outcome["failed"], outcome["errors"]) == (8, 0, 0), outcome


def test_the_saved_suite_blocks_the_data_it_was_written_against(tmp_path: Path) -> None:
    """Not vacuous: the same file fails a critical range and a wrong type, and says so."""
    text = saved_by_gx(
        gxe.ExpectColumnValuesToBeBetween(column="capital", min_value=1, max_value=100),
        gxe.ExpectColumnValuesToBeOfType(column="capital", type_="VARCHAR", severity=FailureSeverity.WARNING),
    )
    home = home_with(tmp_path, text)
    data = rows(GOOD_ROWS)
    for line in data[:200]:  # 16 % of capitals above the declared maximum
        line[2] = "5000"
    with dg.instance_for_test() as instance:
        result = run(tmp_path, home, instance, data)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.step_failure_data.user_failure_data
    assert data is not None, failure.step_failure_data.error
    metadata = {k: v.value for k, v in data.metadata.items()}
    assert metadata["code"] == "QA005"
    failed = str(metadata["failed"])
    assert "suite/expect_column_values_to_be_between" in failed and "failed" in failed, failed
    assert "could not run" not in failed, failed  # an error is not a failure
    outcome = suite_outcomes(result)
    unexpected = outcome["unexpected"]
    typed = next(v for k, v in unexpected.items() if k.startswith("expect_column_values_to_be_of_type"))
    assert typed["status"] == "failed" and typed["message"] is None, typed  # a DECIMAL column


GX0_SUITE = {
    "expectation_suite_name": "ents_rules",
    "ge_cloud_id": None,
    "data_asset_type": None,
    "expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "uscc"}, "meta": {}}
    ],
    "meta": {"great_expectations_version": "0.18.19"},
}


def test_a_gx0_suite_is_refused_by_name(tmp_path: Path) -> None:
    home = home_with(tmp_path, json.dumps(GX0_SUITE, indent=2))
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    (problem,) = [p for p in problems if p["code"].startswith("QA")]
    assert problem["code"] == "QA002"
    assert "this is the GX 0.x format; GX 1.x uses `type` and `name`" in problem["message"], problem
    assert "unexpected keyword" not in problem["message"]
