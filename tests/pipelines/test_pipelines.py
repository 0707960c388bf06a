"""Dagster end to end on the sample city: real materializations into a real DuckDB file."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from examples.generator import generate
from lineage.tables import tables_read
from pipelines.assets import IngestConfig, dataset_key, op_name, query_key
from pipelines.automation import CRON
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import CITY, Settings, landing_files
from registry.load import load_valid_home
from registry.store import Store
from registry.store.loads import list_loads

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("city")
    registry, _ = load_valid_home(CITY)
    manifest = generate(registry, root / "data", rows=2000, seed=9, today=date(2026, 11, 1))
    settings = Settings(
        home=CITY,
        store_url=f"sqlite:///{root / 'store.db'}",
        data=root / "data",
        warehouse=root / "data" / "warehouse.duckdb",
        automation=False,
    )
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    first = defs.resolve_job_def(CITY_JOB).execute_in_process(instance=instance, run_config=QUIET)
    return registry, manifest, settings, defs, instance, first


def test_every_asset_materializes_and_tables_hold_the_extracts(city) -> None:  # type: ignore[no-untyped-def]
    registry, manifest, settings, _, _, first = city
    assert first.success
    materialized = {e.asset_key for e in first.get_asset_materialization_events()}
    expected = {dataset_key(ds) for ds in registry.datasets.values()}
    expected |= {query_key(q) for q in [*registry.views.values(), *registry.indicators.values()]}
    assert materialized == expected
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        for code, entry in manifest.datasets.items():
            (rows,) = con.execute(f'SELECT count(*) FROM "{code}"').fetchone()  # type: ignore[misc]
            assert rows == entry.rows - entry.defects.set_aside, code
            columns = [r[0] for r in con.execute(f'DESCRIBE "{code}"').fetchall()]
            assert columns == [c.element for c in registry.datasets[code].columns]
        for view in registry.views:
            assert con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0] > 0  # type: ignore[index]
    finally:
        con.close()
    store = Store(settings.store_url)
    loaded = [r for r in list_loads(store) if r["status"] == "loaded"]
    assert {r["dataset"] for r in loaded} == set(registry.datasets)
    assert all(r["run_id"] == first.run_id and len(r["sha256"]) == 64 for r in loaded)


def test_materialization_metadata_carries_rows_file_and_indicator_values(city) -> None:  # type: ignore[no-untyped-def]
    registry, manifest, _, _, _, first = city
    by_key = {
        e.asset_key: e.step_materialization_data.materialization
        for e in first.get_asset_materialization_events()
    }
    ds = registry.datasets["enterprise_registration"]
    meta = by_key[dataset_key(ds)].metadata
    entry = manifest.datasets[ds.code]
    assert entry.defects.set_aside > 0  # the date-format defects of date columns are set aside
    assert meta["dagster/row_count"].value == entry.rows - entry.defects.set_aside
    assert meta["govreg/sha256"].value == manifest.datasets[ds.code].sha256
    assert meta["govreg/file"].value.endswith(Path(manifest.datasets[ds.code].file).name)
    for indicator in registry.indicators.values():
        values = [k for k in by_key[query_key(indicator)].metadata if k == "value" or k.startswith("value/")]
        assert values, indicator.code


def test_view_dependencies_come_from_their_sql(city) -> None:  # type: ignore[no-untyped-def]
    registry, _, _, defs, _, _ = city
    graph = defs.resolve_asset_graph()
    tables = {code: dataset_key(ds) for code, ds in registry.datasets.items()}
    for view in registry.views.values():
        parents = graph.get(query_key(view)).parent_keys
        assert parents == {tables[t] for t in tables_read(view.query or "") if t in tables}
        assert parents, view.code


def test_running_again_is_a_no_op_for_every_dataset(city) -> None:  # type: ignore[no-untyped-def]
    registry, _, settings, defs, instance, _ = city
    store = Store(settings.store_url)
    before = len(list(list_loads(store)))
    again = defs.resolve_job_def(CITY_JOB).execute_in_process(instance=instance, run_config=QUIET)
    assert again.success
    materialized = {e.asset_key for e in again.get_asset_materialization_events()}
    assert not materialized & {dataset_key(ds) for ds in registry.datasets.values()}
    new = list(list_loads(store))[: len(list(list_loads(store))) - before]
    assert {r["status"] for r in new} == {"duplicate"} and len(new) == len(registry.datasets)


def test_a_refused_extract_blocks_the_downstream_view_and_keeps_the_table(city, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    registry, _, settings, defs, instance, _ = city
    ds = registry.datasets["service_process_records"]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    before = con.execute(f'SELECT count(*), sum(hash(t)) FROM "{ds.code}" t').fetchone()
    con.close()
    bad = tmp_path / "truncated.parquet"
    good = landing_files(settings.data, ds)[-1]
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    bad.with_name(bad.name + ".done").touch()  # complete as sent: the damage is in the content
    key = dataset_key(ds)
    view = query_key(registry.views["service_bottleneck_stats"])
    result = defs.resolve_job_def(CITY_JOB).execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=[key, view],
        run_config={**QUIET, "ops": {op_name(key): {"config": IngestConfig(file=str(bad)).model_dump()}}},
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "ING004" in failure.event_specific_data.error.message  # type: ignore[union-attr]
    assert view not in {e.asset_key for e in result.get_asset_materialization_events()}
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert op_name(view) not in started  # blocked: the view never ran on the refused data
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute(f'SELECT count(*), sum(hash(t)) FROM "{ds.code}" t').fetchone() == before
    con.close()
    quarantined = list((settings.data / "quarantine" / ds.provider / ds.code).glob("*truncated.parquet"))
    assert len(quarantined) == 1 and quarantined[0].with_name(quarantined[0].name + ".reason.json").exists()


def test_landing_sensor_requests_one_run_per_new_file(tmp_path: Path) -> None:
    registry, _ = load_valid_home(CITY)
    data = tmp_path / "data"
    generate(registry, data, rows=300, seed=4, today=date(2026, 11, 2))
    settings = Settings(
        home=CITY,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        data=data,
        warehouse=data / "warehouse.duckdb",
        automation=False,
    )
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("tax_landing")
    resources = {"govreg": defs.resources["govreg"]}  # type: ignore[index]
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        requests = list(sensor(context))
        cursor = context.cursor
    runs = [r for r in requests if isinstance(r, dg.RunRequest)]
    tax = [ds for ds in registry.datasets.values() if ds.provider == "tax"]
    assert len(runs) == len(tax)
    assert {r.run_key.split(":")[0] for r in runs} == {ds.code for ds in tax}  # type: ignore[union-attr]
    # the same files seen again (cursor kept): nothing new
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        again = list(sensor(context))
    assert all(isinstance(r, dg.SkipReason) for r in again)
    # a copy of loaded content under a new name is not requested once that content is loaded
    job = defs.resolve_job_def(CITY_JOB)
    for run in runs:
        assert job.execute_in_process(
            instance=instance, run_config={**QUIET, **run.run_config}, asset_selection=run.asset_selection
        ).success
    ds = tax[0]
    original = landing_files(data, ds)[-1]
    shutil.copy(original, original.with_name("copy-" + original.name))
    original.with_name("copy-" + original.name + ".done").touch()  # complete: only its content is old
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        later = list(sensor(context))
    assert not [r for r in later if isinstance(r, dg.RunRequest)]


def test_schedules_follow_update_cycles() -> None:
    registry, _ = load_valid_home(CITY)
    defs = build_definitions(Settings.from_env())
    cycles = {ds.update_cycle for ds in registry.datasets.values() if ds.update_cycle in CRON}
    names = {s.name for s in defs.schedules or []}  # type: ignore[union-attr]
    assert names == {f"refresh_{c}_schedule" for c in cycles} | {"expire_agreements_schedule"}
    for cycle in cycles:
        schedule = defs.resolve_schedule_def(f"refresh_{cycle}_schedule")
        assert schedule.cron_schedule == CRON[cycle]
        assert schedule.execution_timezone == "Asia/Shanghai"
