"""Failures stay local: an agreement that runs out stops what depends on it, never the whole city.

The city has two departments. Tax keeps a replica of market's unified social credit code under an
agreement, and a view of market's registered capital (conditional) under another; both agreements
ended yesterday. That is a date-driven finding (GOV007, GOV030): true today, false last week. The
promise: the Dagster definitions still load; a real run of the whole city materializes everything
else (market's dataset and view, tax's own dataset) while the replica's dataset and the view fail
at run time with the code; ``validate`` warns 30 days before an agreement ends (GOV033); a daily
schedule marks an agreement that has ended ``expired`` in the metadata store, audited, once.
A broken declaration (a replica naming an agreement that does not exist) still refuses to load.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from stdnum.cn import uscc as stdnum_uscc
from typer.testing import CliRunner

from cli import app
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import Settings
from registry.errors import DeclarationError
from registry.load import load_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import count_events, query_events, verify_chain

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)


def home_files(*, uscc_until: date, capital_until: date, name_until: date) -> dict[str, str]:
    def agreement(code: str, element: str, until: date) -> str:
        return (
            f"  - {{code: {code}, consumer: tax, provider: market, elements: [{element}], purpose: 税源管理,"
            f" approver: 大数据局, valid_from: 2020-01-01, valid_to: {until.isoformat()},"
            " status: approved}\n"
        )

    return {
        "registry.yaml": 'registry:\n  name: 攻击测试市\n  name_en: Attack city\n  division: "500000"\n',
        "departments.yaml": """\
departments:
  - {code: market, name: 攻击测试市市场监督管理局, name_en: Attack City Market Regulation}
  - {code: tax, name: 攻击测试市税务局, name_en: Attack City Tax Service}
""",
        "elements.yaml": """\
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, required: true,
     domain: {check_digit: gb32100}, owner: market, status: standard}
  - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard}
  - {code: capital, name: 注册资本, name_en: Registered capital, type: currency, unit: 万元,
     owner: market, status: standard, sharing: conditional, sharing_condition: 税源管理}
  - {code: taxpayer_no, name: 纳税人编号, name_en: Taxpayer number, owner: tax, status: standard}
  - {code: tax_due, name: 应纳税额, name_en: Tax due, type: currency, unit: 元, owner: tax,
     status: standard}
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
  - code: tax_reg
    name: 税务登记信息
    name_en: Tax registrations
    provider: tax
    key: [NSRSBH]
    columns:
      - {name: NSRSBH, element: uscc, replica: agr_tax_uscc}
      - {name: NSRBH, element: taxpayer_no}
  - code: tax_due_list
    name: 应纳税额清册
    name_en: Tax due list
    provider: tax
    key: [NSRBH]
    columns:
      - {name: NSRBH, element: taxpayer_no}
      - {name: YNSE, element: tax_due}
""",
        "views.yaml": """\
views:
  - {code: ent_count, name: 企业数, name_en: Enterprise count, owner: market,
     query: "select count(*) as n, sum(capital) as capital from ents"}
  - {code: tax_capital, name: 纳税人注册资本, name_en: Taxpayer capital, owner: tax,
     query: "select uscc, capital from ents"}
  - {code: tax_reg_count, name: 税务登记数, name_en: Tax registration count, owner: tax,
     query: "select count(*) as n from tax_reg"}
""",
        "agreements.yaml": "agreements:\n"
        + agreement("agr_tax_uscc", "uscc", uscc_until)
        + agreement("agr_tax_capital", "capital", capital_until)
        + agreement("agr_tax_name", "ent_name", name_until),
    }


def write_home(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def uscc(i: int) -> str:
    body = f"91500000{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def land(data: Path, provider: str, dataset: str, head: list[str], rows: list[list[str]]) -> Path:
    folder = data / "landing" / provider / dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dataset}-1.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        writer.writerows(rows)
    old = time.time() - 120  # written whole two minutes ago: complete by any settle rule
    os.utime(path, (old, old))
    path.with_name(path.name + ".done").touch()
    return path


@dataclass
class City:
    settings: Settings
    instance: dg.DagsterInstance

    def tables(self) -> set[str]:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            return {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        finally:
            con.close()


def settings_for(tmp_path: Path, home: Path) -> Settings:
    return Settings(
        home=home,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        data=tmp_path / "data",
        warehouse=tmp_path / "data" / "warehouse.duckdb",
        automation=False,
    )


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    home = write_home(
        tmp_path / "home",
        home_files(uscc_until=YESTERDAY, capital_until=YESTERDAY, name_until=TODAY + timedelta(days=10)),
    )
    settings = settings_for(tmp_path, home)
    with dg.instance_for_test() as instance:
        yield City(settings, instance)


def failures(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Step key → the metadata of the dg.Failure it raised."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data.user_failure_data
            out[event.step_key or ""] = {k: v.value for k, v in (data.metadata if data else {}).items()}
    return out


def test_an_expired_agreement_stops_only_what_depends_on_it(city: City) -> None:
    defs = build_definitions(city.settings)  # the code location loads (it raised GOV007 before)

    data = city.settings.data
    land(
        data,
        "market",
        "ents",
        ["TYSHXYDM", "QYMC", "ZCZB"],
        [[uscc(i), f"企业{i}", str(10 + i)] for i in range(40)],
    )
    land(data, "tax", "tax_reg", ["NSRSBH", "NSRBH"], [[uscc(i), f"T{i:05d}"] for i in range(30)])
    land(data, "tax", "tax_due_list", ["NSRBH", "YNSE"], [[f"T{i:05d}", str(100 * i)] for i in range(30)])
    result = defs.resolve_job_def(CITY_JOB).execute_in_process(
        instance=city.instance, raise_on_error=False, run_config=QUIET
    )
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}  # type: ignore[union-attr]
    assert materialized == {"market/ents", "market/ent_count", "tax/tax_due_list"}
    failed = failures(result)
    assert set(failed) == {"tax__tax_reg", "tax__tax_capital"}
    assert failed["tax__tax_reg"]["code"] == "GOV007"
    assert "agr_tax_uscc" in failed["tax__tax_reg"]["problems"]
    assert failed["tax__tax_capital"]["code"] == "GOV030"
    assert "capital" in failed["tax__tax_capital"]["problems"]
    # the view over the stopped dataset did not run on stale data: it was skipped
    assert "tax__tax_reg_count" not in {
        e.step_key for e in result.all_events if e.event_type_value == "STEP_START"
    }
    assert {"ents", "ent_count", "tax_due_list"} <= city.tables()
    assert not {"tax_reg", "tax_capital", "tax_reg_count"} & city.tables()


def test_validate_still_calls_an_expired_agreement_an_error(city: City) -> None:
    """Decided: what fails at run time is still an error for validate/apply (the home must be fixed)."""
    out = CliRunner().invoke(app, ["validate", "--home", str(city.settings.home), "--json"])
    assert out.exit_code == 1, out.output
    problems = json.loads(out.output)["problems"]
    errors = {(p["code"], p["severity"]) for p in problems if p["severity"] == "error"}
    assert errors == {("GOV007", "error"), ("GOV030", "error")}


def test_validate_warns_thirty_days_before_an_agreement_ends(tmp_path: Path) -> None:
    home = write_home(
        tmp_path / "home",
        home_files(
            uscc_until=TODAY + timedelta(days=40),  # beyond 30 days: no warning yet
            capital_until=TODAY + timedelta(days=30),  # its last day is in 30 days: warned
            name_until=TODAY,  # ends today: still valid, warned
        ),
    )
    out = CliRunner().invoke(app, ["validate", "--home", str(home), "--json"])
    assert out.exit_code == 0, out.output
    soon = [p for p in json.loads(out.output)["problems"] if p["code"] == "GOV033"]
    assert sorted(p["message"].split("'")[1] for p in soon) == ["agr_tax_capital", "agr_tax_name"]
    assert all(p["severity"] == "warning" for p in soon)
    assert any((TODAY + timedelta(days=30)).isoformat() in p["message"] for p in soon)
    build_definitions(settings_for(tmp_path, home))  # a warning never stops anything


def test_a_broken_declaration_still_refuses_to_load(tmp_path: Path) -> None:
    files = home_files(uscc_until=TODAY, capital_until=TODAY, name_until=TODAY)
    files["datasets.yaml"] = files["datasets.yaml"].replace(
        "replica: agr_tax_uscc", "replica: agr_tax_nothing"
    )
    home = write_home(tmp_path / "home", files)
    with pytest.raises(DeclarationError) as caught:
        build_definitions(settings_for(tmp_path, home))
    assert [(p.code, "agr_tax_nothing" in p.message) for p in caught.value.errors] == [("GOV007", True)]


@pytest.mark.parametrize(("status", "loads"), [("expired", True), ("requested", False), ("revoked", False)])
def test_what_the_calendar_did_stays_local_what_people_declared_does_not(
    tmp_path: Path, status: str, loads: bool
) -> None:
    """``expired`` (what the schedule writes, and export brings into the home) is the calendar's
    doing: local. A replica under an agreement never approved, or revoked, is a declaration to fix."""
    files = home_files(uscc_until=YESTERDAY, capital_until=TODAY, name_until=TODAY + timedelta(days=60))
    files["agreements.yaml"] = files["agreements.yaml"].replace(
        f"valid_to: {YESTERDAY.isoformat()}, status: approved",
        f"valid_to: {YESTERDAY.isoformat()}, status: {status}",
    )
    home = write_home(tmp_path / "home", files)
    if loads:
        build_definitions(settings_for(tmp_path, home))
    else:
        with pytest.raises(DeclarationError) as caught:
            build_definitions(settings_for(tmp_path, home))
        assert [p.code for p in caught.value.errors] == ["GOV007"]


def test_a_daily_schedule_marks_ended_agreements_expired_once(city: City) -> None:
    store = Store(city.settings.store_url)
    try:
        registry, _ = load_home(city.settings.home)
        apply_registry(store, registry, actor="tester", reason="the attack city", source="test")
        defs = build_definitions(city.settings)
        schedule = next(
            s
            for s in defs.schedules or []
            if isinstance(s, dg.ScheduleDefinition) and s.job_name == "expire_agreements"
        )
        assert schedule.cron_schedule == "5 0 * * *"  # daily, just after midnight in the city

        def tick() -> dg.ExecuteInProcessResult:
            at = datetime.now(ZoneInfo(schedule.execution_timezone or "UTC"))
            with dg.build_schedule_context(instance=city.instance, scheduled_execution_time=at) as context:
                [request] = schedule.evaluate_tick(context).run_requests or []
            job = defs.resolve_job_def("expire_agreements")
            return job.execute_in_process(
                instance=city.instance, run_config={**QUIET, **request.run_config}, tags=request.tags
            )

        before = _events(store)
        assert tick().success
        statuses = _statuses(store)
        assert statuses == {
            "agr_tax_uscc": "expired",
            "agr_tax_capital": "expired",
            "agr_tax_name": "approved",
        }
        events = _events(store) - before
        assert events == 2
        with store.read() as conn:
            [event] = list(query_events(conn, kind="agreement", code="agr_tax_uscc", action="update"))
            assert verify_chain(conn).ok
        assert json.loads(event["before"])["status"] == "approved"
        assert json.loads(event["after"])["status"] == "expired"
        assert event["actor"] == "govreg:expire_agreements"
        assert YESTERDAY.isoformat() in event["reason"]

        assert tick().success  # the next day's tick: nothing left to do, nothing written
        assert _events(store) == before + 2
        assert _statuses(store) == statuses
    finally:
        store.dispose()


def _events(store: Store) -> int:
    with store.read() as conn:
        return count_events(conn)


def _statuses(store: Store) -> dict[str, str]:
    return {code: json.loads(spec)["status"] for code, spec in store.read_specs()["agreements"].items()}
