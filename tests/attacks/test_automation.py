"""Sensor runs keep the views current: a file a landing sensor picks up refreshes what is built on it.

A real Dagster instance, a real DuckDB warehouse and metadata store, the city's real sensors: a
file dropped into the landing folder, the landing sensor's tick, the run it requests, then the
automation sensor's tick and the run it requests. The promise: the views and indicators over the
dataset (and a view over a view) then show the new extract; a tick with nothing new requests
nothing; an extract the quality gate blocks refreshes nothing (the views keep the last good data);
one that only fails warnings does go live and does refresh them (a warning is not a block).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from stdnum.cn import uscc as stdnum_uscc

from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

HOME = {
    "registry.yaml": 'registry:\n  name: 攻击测试市\n  name_en: Attack city\n  division: "500000"\n',
    "departments.yaml": """\
departments:
  - {code: market, name: 攻击测试市市场监督管理局, name_en: Attack City Market Regulation}
  - {code: center, name: 攻击测试市大数据发展局, name_en: Attack City Big Data Center}
""",
    "elements.yaml": """\
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, required: true,
     domain: {check_digit: gb32100}, owner: market, status: standard}
  - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard}
  - {code: capital, name: 注册资本, name_en: Registered capital, type: currency, unit: 万元,
     domain: {min: 0, max: 100000}, owner: market, status: standard}
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
  - {code: ent_count, name: 企业数, name_en: Enterprise count, owner: market,
     query: "select count(*) as n, sum(capital) as capital from ents"}
  - {code: ent_report, name: 企业报表, name_en: Enterprise report, owner: center,
     query: "select n, capital, n * 2 as twice from ent_count"}
""",
    "indicators.yaml": """\
indicators:
  - {code: ent_total, name: 企业总数, name_en: Enterprises in total, owner: center,
     question: 全市有多少企业？, query: "select count(*) as value from ents"}
""",
}
HEAD = ["TYSHXYDM", "QYMC", "ZCZB"]
VIEWS = {"market/ent_count", "center/ent_report", "center/ent_total"}


def uscc(i: int) -> str:
    body = f"91500000{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def bad_uscc(i: int) -> str:
    good = uscc(i)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def rows(n: int, capital: int = 10) -> list[list[str]]:
    return [[uscc(i), f"企业{i}", str(capital)] for i in range(n)]


@dataclass
class City:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    landing_cursor: str | None = None
    automation_cursors: dict[str, str | None] = field(default_factory=dict)
    files: int = 0
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    def drop(self, data: list[list[str]]) -> Path:
        """A department's transfer: the file, whole, then its completion marker."""
        folder = self.settings.data / "landing" / "market" / "ents"
        folder.mkdir(parents=True, exist_ok=True)
        self.files += 1
        path = folder / f"ents-{self.files}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEAD)
            writer.writerows(data)
        then = time.time() - 300 + self.files  # complete for a while, newer than the one before
        os.utime(path, (then, then))
        path.with_name(path.name + ".done").touch()
        return path

    def landing_tick(self) -> list[dg.RunRequest]:
        [sensor] = [s for s in self.defs.sensors or [] if s.name == "market_landing"]
        resources = {"govreg": self.defs.resources["govreg"]}  # type: ignore[index]
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.landing_cursor,
            resources=resources,
            repository_def=self.defs.get_repository_def(),
        ) as context:
            result = sensor.evaluate_tick(context)
        self.landing_cursor = result.cursor
        return list(result.run_requests or [])

    def automation_tick(self) -> set[str]:
        """The automation sensor's real tick, as the sensor daemon runs it; then the runs it asks for."""
        sensors = [
            s for s in self.defs.sensors or [] if isinstance(s, dg.AutomationConditionSensorDefinition)
        ]
        assert sensors, "no automation condition sensor in the definitions"
        requested: set[str] = set()
        for sensor in sensors:
            with dg.build_sensor_context(
                instance=self.instance,
                cursor=self.automation_cursors.get(sensor.name),
                repository_def=self.defs.get_repository_def(),
                sensor_name=sensor.name,
            ) as context:
                result = sensor.evaluate_tick(context)
            self.automation_cursors[sensor.name] = result.cursor
            for request in result.run_requests or []:
                keys = list(request.asset_selection or [])
                requested |= {k.to_user_string() for k in keys}
                self.launch(request)
        return requested

    def launch(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = self.defs.resolve_job_def(CITY_JOB).execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            run_config={**QUIET, **(request.run_config or {})},
            asset_selection=list(request.asset_selection or []),
            tags=dict(request.tags),
        )
        self.runs.append(result)
        return result

    def warehouse(self, sql: str) -> Any:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchone()
        finally:
            con.close()

    def indicator(self) -> float:
        event = self.instance.get_latest_materialization_event(dg.AssetKey(["center", "ent_total"]))
        assert event is not None and event.asset_materialization is not None
        return float(event.asset_materialization.metadata["value"].value)  # type: ignore[arg-type]


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
        automation=True,
    )
    with dg.instance_for_test() as instance:
        yield City(settings, build_definitions(settings), instance)


def land(city: City, data: list[list[str]]) -> dg.ExecuteInProcessResult:
    """Drop a file; the landing sensor's tick asks for one run of the dataset; launch it."""
    city.drop(data)
    [request] = city.landing_tick()
    assert [k.to_user_string() for k in request.asset_selection or []] == ["market/ents"]
    return city.launch(request)


def test_a_new_extract_from_the_landing_sensor_refreshes_views_and_indicators(city: City) -> None:
    assert land(city, rows(100)).success
    assert city.automation_tick() == VIEWS  # first built once their source exists
    assert all(r.success for r in city.runs)
    assert city.warehouse("select n, capital, twice from ent_report") == (100, 1000, 200)
    assert city.indicator() == 100
    assert city.automation_tick() == set()  # nothing new: nothing asked for

    assert land(city, rows(150)).success  # the attack: before, only `ents` changed
    assert city.warehouse("select count(*) from ents") == (150,)
    assert city.automation_tick() == VIEWS
    assert all(r.success for r in city.runs)
    assert city.warehouse("select n from ent_count") == (150,)
    assert city.warehouse("select n, twice from ent_report") == (150, 300)  # a view over a view too
    assert city.indicator() == 150
    assert city.automation_tick() == set()


def test_a_blocked_extract_refreshes_nothing_and_a_warned_one_does(city: City) -> None:
    assert land(city, rows(100)).success
    assert city.automation_tick() == VIEWS

    broken = [[bad_uscc(i) if i % 2 else uscc(i), f"企业{i}", "10"] for i in range(200)]
    blocked = land(city, broken)  # half the check characters wrong: the gate keeps it out
    assert not blocked.success
    assert city.automation_tick() == set()
    assert city.warehouse("select n from ent_count") == (100,)
    assert city.warehouse("select n from ent_report") == (100,)

    warned = rows(120, capital=10) + [[uscc(500 + i), f"大企业{i}", "999999"] for i in range(5)]
    assert land(city, warned).success  # capital above its range: a warning, it goes live
    assert city.automation_tick() == VIEWS
    assert city.warehouse("select n from ent_report") == (125,)


def test_automation_follows_the_settings(city: City) -> None:
    def sensors(defs: dg.Definitions) -> list[dg.AutomationConditionSensorDefinition]:
        return [s for s in defs.sensors or [] if isinstance(s, dg.AutomationConditionSensorDefinition)]

    running = sensors(city.defs)
    assert running and all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in running)
    targeted = {
        k.to_user_string()
        for s in running
        for k in s.asset_selection.resolve(city.defs.resolve_asset_graph())
    }
    assert targeted == VIEWS  # datasets are driven by their landing sensors and schedules, not by automation
    off = Settings(**{**city.settings.__dict__, "automation": False})
    stopped = sensors(build_definitions(off))
    assert stopped and all(s.default_status == dg.DefaultSensorStatus.STOPPED for s in stopped)
