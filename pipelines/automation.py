"""Sensors on landing folders (one per department) and schedules that follow update cycles.

A sensor requests one run per new file, with the file's sha256 in the run key, so a file is
ingested once however often it is seen, and a renamed copy of loaded content is skipped.
Schedules refresh the datasets of one update cycle from their newest extracts.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from pipelines.assets import IngestConfig, dataset_key, op_name
from pipelines.ingest import sha256_file
from pipelines.ingest.complete import ready
from pipelines.resources import GovregResource, landing_files
from registry.home import Registry
from registry.store.loads import find_loaded
from registry.vocab import UpdateCycle

CRON = {
    UpdateCycle.DAILY: "0 2 * * *",
    UpdateCycle.WEEKLY: "0 3 * * 1",
    UpdateCycle.MONTHLY: "0 4 1 * *",
    UpdateCycle.QUARTERLY: "0 5 1 1,4,7,10 *",
    UpdateCycle.HALF_YEARLY: "0 5 1 1,7 *",
    UpdateCycle.YEARLY: "0 6 1 1 *",
}
"""Realtime datasets are driven by their sensor alone; irregular ones by sensors and hand."""
TIMEZONE = "Asia/Shanghai"


def landing_sensor(registry: Registry, department: str, running: bool) -> dg.SensorDefinition:
    datasets = [ds for ds in registry.datasets.values() if ds.provider == department]
    name = f"{department}_landing"

    @dg.sensor(
        name=name,
        description=f"New extracts from {registry.departments[department].name} "
        f"({registry.departments[department].name_en}) in the landing folders of "
        f"{', '.join(ds.code for ds in datasets)}.",
        asset_selection=[dataset_key(ds) for ds in datasets],
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, govreg: GovregResource
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        seen: dict[str, list[float]] = json.loads(context.cursor) if context.cursor else {}
        requested = 0
        for ds in datasets:
            for path in landing_files(govreg.data_root, ds):
                stat = path.lstat()
                fingerprint = [stat.st_size, stat.st_mtime]
                if seen.get(str(path)) == fingerprint:
                    continue
                waiting = ready(govreg.registry, ds, path)
                if waiting:  # not complete yet: look again at the next tick
                    context.log.info(f"{path.name}: {waiting}")
                    continue
                seen[str(path)] = fingerprint
                # a link is never opened: its run refuses it (ING010)
                sha = f"link-{stat.st_mtime_ns}" if path.is_symlink() else sha256_file(path)
                if find_loaded(govreg.store, ds.code, sha) is not None:
                    context.log.info(f"{path.name}: already loaded into {ds.code}")
                    continue
                requested += 1
                key = dataset_key(ds)
                yield dg.RunRequest(
                    run_key=f"{ds.code}:{sha}",
                    asset_selection=[key],
                    run_config={"ops": {op_name(key): {"config": IngestConfig(file=str(path)).model_dump()}}},
                    tags={"govreg/dataset": ds.code, "govreg/file": path.name, "govreg/sha256": sha},
                )
        seen = {p: f for p, f in seen.items() if Path(p).exists()}
        context.update_cursor(json.dumps(seen, sort_keys=True))
        if not requested:
            yield dg.SkipReason(f"no new extracts for {department}")

    return _sensor


def cycle_schedules(registry: Registry, running: bool) -> list[dg.ScheduleDefinition]:
    schedules = []
    for cycle, cron in CRON.items():
        keys = [dataset_key(ds) for ds in registry.datasets.values() if ds.update_cycle == cycle]
        if not keys:
            continue
        job = dg.define_asset_job(
            f"refresh_{cycle}",
            selection=dg.AssetSelection.assets(*keys),
            description=f"Ingest the newest extracts of the datasets updated {cycle}.",
        )
        schedules.append(
            dg.ScheduleDefinition(
                name=f"refresh_{cycle}_schedule",
                job=job,
                cron_schedule=cron,
                execution_timezone=TIMEZONE,
                description=f"{len(keys)} dataset(s) with update cycle '{cycle}'.",
                default_status=dg.DefaultScheduleStatus.RUNNING
                if running
                else dg.DefaultScheduleStatus.STOPPED,
            )
        )
    return schedules


def build_sensors(registry: Registry, running: bool) -> list[dg.SensorDefinition]:
    providers = sorted({ds.provider for ds in registry.datasets.values()})
    return [landing_sensor(registry, dept, running) for dept in providers]
