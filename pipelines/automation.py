"""Sensors on landing folders (one per department) and schedules that follow update cycles.

A sensor requests one run per new file, with the file's sha256 in the run key, so a file is
ingested once however often it is seen, and a renamed copy of loaded content is skipped.
Schedules refresh the datasets of one update cycle from their newest extracts.

Views and indicators follow their sources by declarative automation
(:data:`pipelines.assets.VIEW_CONDITION`, evaluated by :func:`automation_sensors`): a dataset a
sensor or schedule loads brings the views and indicators built on it up to date. A daily
schedule marks agreements whose term has ended ``expired`` in the metadata store
(:func:`expiry_schedule`).
"""

import json
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg

from ingest import sha256_file
from ingest.complete import ready
from pipelines.assets import IngestConfig, dataset_key, op_name, query_key
from pipelines.resources import GovregResource, landing_files
from registry.home import Registry
from registry.model import Indicator, View
from registry.store.expiry import expire_agreements
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


EXPIRY_JOB = "expire_agreements"
EXPIRY_CRON = "5 0 * * *"  # daily, just after midnight


class ExpiryConfig(dg.Config):
    """The day to judge agreements on (ISO date); by default the machine's local date, the same
    day ``validate`` and the assets judge by."""

    today: str | None = None


@dg.op(
    name="expire_ended_agreements",
    description="Mark approved agreements whose term has ended expired (audited).",
)
def _expire(context: dg.OpExecutionContext, config: ExpiryConfig, govreg: GovregResource) -> list[str]:
    day = date.fromisoformat(config.today) if config.today else date.today()
    expired = expire_agreements(govreg.store, day)
    context.log.info(f"{len(expired)} agreement(s) expired on {day}: {', '.join(expired) or 'none'}")
    context.add_output_metadata({"expired": ", ".join(expired), "count": len(expired), "as_of": str(day)})
    return expired


@dg.job(name=EXPIRY_JOB, description="Agreements whose valid_to has passed become 'expired' in the store.")
def expiry_job() -> None:
    _expire()


def expiry_schedule(running: bool) -> dg.ScheduleDefinition:
    """Once a day: an agreement that ended yesterday is ``expired`` in the store by morning.

    Idempotent (an expired agreement is not approved any more, so it is not touched again) and
    audited like every change: one ``update agreement`` event each, actor ``govreg:expire_agreements``.
    """

    @dg.schedule(
        name=f"{EXPIRY_JOB}_schedule",
        job=expiry_job,
        cron_schedule=EXPIRY_CRON,
        execution_timezone=TIMEZONE,
        description="Mark agreements whose term has ended expired in the metadata store (audited).",
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time
        return dg.RunRequest(run_key=f"{EXPIRY_JOB}:{tick.isoformat() if tick else 'now'}")

    return _schedule


MAX_TARGETS = 500  # Dagster evaluates at most this many assets per user-code automation sensor
AUTOMATION_SENSOR = "views_automation"


def automation_sensors(registry: Registry, running: bool) -> list[dg.AutomationConditionSensorDefinition]:
    """The sensor that evaluates the views' and indicators' automation conditions.

    One for the whole city, so that a chain of views across departments (a view over another
    department's view) is requested in one tick and built in one run, in dependency order. It
    runs in the code location (``use_user_code_server``): its conditions are this code's, and a
    test can tick it for real. Above :data:`MAX_TARGETS` views and indicators it is split (a
    chain that crosses two of them then takes a tick per hop). Stopped by default unless
    automation is on (``GOVREG_AUTOMATION``), like every sensor here; datasets are not its
    targets (their landing sensors and schedules drive them).
    """
    queries: list[View | Indicator] = [*registry.views.values(), *registry.indicators.values()]
    keys = sorted((query_key(q) for q in queries), key=lambda k: k.to_user_string())
    sensors = []
    for n, start in enumerate(range(0, len(keys), MAX_TARGETS)):
        chunk = keys[start : start + MAX_TARGETS]
        with warnings.catch_warnings():  # use_user_code_server is beta in Dagster 1.13: chosen knowingly
            warnings.simplefilter("ignore", dg.BetaWarning)
            sensor = dg.AutomationConditionSensorDefinition(
                AUTOMATION_SENSOR + (f"_{n + 1}" if n else ""),
                target=dg.AssetSelection.assets(*chunk),
                description=f"Rebuild {len(chunk)} view(s) and indicator(s) when a table they read is "
                "updated (and build those that do not exist yet).",
                minimum_interval_seconds=30,
                use_user_code_server=True,
                default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
            )
        sensors.append(sensor)
    return sensors
