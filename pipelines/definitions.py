"""The Dagster entry point: everything is generated from the registry home; nothing is hand-written.

``dagster dev -w workspace.yaml`` shows the whole city: a group per department, an asset per
dataset, view and indicator, a landing sensor per department and a schedule per update cycle.
"""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from expectations.suites import load_suites
from pipelines.assets import build_assets
from pipelines.automation import (
    automation_sensors,
    build_sensors,
    cycle_schedules,
    expiry_job,
    expiry_schedule,
)
from pipelines.resources import GovregResource, Settings
from registry.errors import DeclarationError
from registry.load import load_valid_home

CITY_JOB = "city"


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The city's definitions; refuses (DeclarationError) a home with a broken declaration.

    Failures stay local: a date-driven error (an agreement that has ended or not yet begun) does
    not refuse the definitions; the assets it concerns fail at run time with its code
    (:func:`pipelines.assets.refuse_if_stopped`), and every other pipeline runs.
    """
    settings = settings or Settings.from_env()
    registry, _ = load_valid_home(settings.home)
    suites, problems = load_suites(settings.home, registry)
    if problems:
        raise DeclarationError(problems)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    city = dg.define_asset_job(
        CITY_JOB,
        selection=dg.AssetSelection.all(),
        description="Ingest every department's newest extract, then build the views and indicators.",
    )
    return dg.Definitions(
        assets=build_assets(registry, settings.data, suites),
        jobs=[city, expiry_job],
        sensors=[
            *build_sensors(registry, settings.automation),
            *automation_sensors(registry, settings.automation),
        ],
        schedules=[*cycle_schedules(registry, settings.automation), expiry_schedule(settings.automation)],
        resources={
            "govreg": GovregResource(
                home=str(settings.home), store_url=settings.store_url, data=str(settings.data)
            ),
            "duckdb": DuckDBResource(database=str(settings.warehouse)),
        },
        executor=dg.in_process_executor,  # one process writes the DuckDB warehouse
    )


defs = build_definitions()
