"""Write, audit, publish: an extract that must not go live never replaces the live table.

Each attack first publishes a good extract of 1,219 enterprises, then sends a file that parses but
is bad, through a real Dagster run over a real DuckDB file and metadata store. The promise: the run
fails with the code, the live table (count and checksum) is what it was, the view over it is not
rebuilt, and the bad rows are kept for inspection with a ``blocked`` or ``rejected`` load record.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from stdnum.cn import uscc as stdnum_uscc

from pipelines.assets import IngestConfig, dataset_key, op_name, query_key
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import Settings
from registry.load import load_valid_home
from registry.store import Store
from registry.store.loads import list_loads

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
GOOD_ROWS = 1219

HOME = {
    "registry.yaml": 'registry:\n  name: 攻击测试市\n  name_en: Attack city\n  division: "500000"\n'
    "  settle_seconds: 0\n",  # each file is written whole before its run
    "departments.yaml": """\
departments:
  - {code: market, name: 攻击测试市市场监督管理局, name_en: Attack City Market Regulation}
""",
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
    "views.yaml": """\
views:
  - {code: ent_count, name: 企业数, name_en: Enterprise count, owner: market, sql: sql/ent_count.sql}
""",
    "sql/ent_count.sql": "select count(*) as n, sum(capital) as capital from ents\n",
}
HEAD = ["TYSHXYDM", "QYMC", "ZCZB"]


def uscc(i: int) -> str:
    body = f"91500000{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def bad_uscc(i: int) -> str:
    good = uscc(i)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def rows(n: int) -> list[list[str]]:
    return [[uscc(i), f"企业{i}", str(10 + i % 50)] for i in range(n)]


def write_csv(path: Path, data: list[list[str]], head: list[str] = HEAD) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        writer.writerows(data)
    return path


@dataclass
class City:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    root: Path

    def run(self, file: Path) -> dg.ExecuteInProcessResult:
        registry, _ = load_valid_home(self.settings.home)
        key = dataset_key(registry.datasets["ents"])
        view = query_key(registry.views["ent_count"])
        return self.defs.resolve_job_def(CITY_JOB).execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            asset_selection=[key, view],
            run_config={
                **QUIET,
                "ops": {op_name(key): {"config": IngestConfig(file=str(file)).model_dump()}},
            },
        )

    def live(self) -> tuple[Any, ...]:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            ents = con.execute("SELECT count(*), sum(hash(t)) FROM ents t").fetchone()
            view = con.execute("SELECT n, capital FROM ent_count").fetchone()
            return (ents, view)
        finally:
            con.close()

    def table(self, sql: str) -> Any:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchone()
        finally:
            con.close()

    def last_load(self) -> dict[str, Any]:
        store = Store(self.settings.store_url)
        try:
            return next(list_loads(store, dataset="ents", limit=1))
        finally:
            store.dispose()


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    home = tmp_path / "home"
    for name, text in HOME.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    settings = Settings(
        home=home,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        data=tmp_path / "data",
        warehouse=tmp_path / "data" / "warehouse.duckdb",
        automation=False,
    )
    with dg.instance_for_test() as instance:
        city = City(settings, build_definitions(settings), instance, tmp_path)
        good = city.run(write_csv(tmp_path / "good.csv", rows(GOOD_ROWS)))
        assert good.success
        assert city.live()[0][0] == GOOD_ROWS
        yield city


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, dict[str, Any]]:
    assert not result.success
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = event.event_specific_data.user_failure_data  # type: ignore[union-attr]
    assert data is not None, event.event_specific_data.error.message  # type: ignore[union-attr]
    metadata = {k: v.value for k, v in data.metadata.items()}
    metadata["description"] = data.description
    return str(metadata["code"]), metadata


def assert_blocked(
    city: City, result: dg.ExecuteInProcessResult, before: tuple[Any, ...], staged: int
) -> str:
    code, metadata = failure(result)
    assert code == "QA005", metadata
    assert city.live() == before  # the live table and the view over it are unchanged
    assert city.table("SELECT count(*) FROM ents__blocked") == (staged,)  # kept for inspection
    record = city.last_load()
    assert record["status"] == "blocked" and record["rule_code"] == "QA005"
    quarantined = Path(record["quarantined_to"])
    assert quarantined.exists() and quarantined.with_name(quarantined.name + ".reason.json").exists()
    view_runs = [
        e for e in result.all_events if e.event_type_value == "STEP_START" and "ent_count" in e.step_key
    ]
    assert not view_runs  # the view never ran on the refused data
    return str(metadata["failed"])


def test_bad_check_digits_do_not_replace_the_live_table(city: City) -> None:
    data = rows(GOOD_ROWS)
    for i in range(0, 155):  # 155 / 1,219 = 12.7 %
        data[i][0] = bad_uscc(i)
    before = city.live()
    result = city.run(write_csv(city.root / "bad_digits.csv", data))
    failed = assert_blocked(city, result, before, GOOD_ROWS)
    assert "check_digit:uscc" in failed
    (evaluation,) = result.get_asset_check_evaluations()  # reported, on the staged data
    assert evaluation.check_name == "standards" and evaluation.passed is False
    assert evaluation.metadata["unexpected"].value["check_digit:uscc"]["unexpected_count"] == 155


def test_duplicate_keys_do_not_replace_the_live_table(city: City) -> None:
    data = rows(GOOD_ROWS)
    for i in range(50):
        data[GOOD_ROWS - 1 - i][0] = data[i][0]  # 50 rows repeat another row's key
    before = city.live()
    result = city.run(write_csv(city.root / "dup_keys.csv", data))
    assert "unique" in assert_blocked(city, result, before, GOOD_ROWS)


def test_a_file_cut_at_a_row_boundary_is_blocked_by_the_row_drop(city: City) -> None:
    before = city.live()
    result = city.run(write_csv(city.root / "cut.csv", rows(606)))  # 1,219 -> 606: half is gone
    assert "max_row_drop" in assert_blocked(city, result, before, 606)


def test_a_drop_within_the_tolerance_goes_live(city: City) -> None:
    result = city.run(write_csv(city.root / "smaller.csv", rows(1100)))  # -9.8 %, under the 20 % default
    assert result.success
    assert city.live()[0][0] == 1100


def test_a_file_whose_every_row_is_set_aside_is_refused(city: City) -> None:
    data = [[uscc(i), f"企业{i}", "not a number"] for i in range(GOOD_ROWS)]
    before = city.live()
    code, metadata = failure(city.run(write_csv(city.root / "all_rejected.csv", data)))
    assert code == "ING012", metadata
    assert city.live() == before
    assert city.last_load()["status"] == "rejected"


def test_a_header_with_rows_of_empty_fields_is_refused(city: City) -> None:
    path = city.root / "empty_rows.csv"
    path.write_text(",".join(HEAD) + "\n" + ",,\n" * 50, encoding="utf-8")
    before = city.live()
    code, metadata = failure(city.run(path))
    assert code == "ING006" and "50 rows of empty fields" in metadata["description"], metadata
    assert city.live() == before
