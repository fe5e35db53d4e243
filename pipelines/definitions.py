"""The one Definitions object, loaded by workspace.yaml."""

import dagster as dg

import assets
from assets.resources import PaperlakeResource, resource_from_env
from pipelines.jobs import (
    digest_job,
    ingest_job,
    lake_maintenance_job,
    outputs_job,
    update_job,
    warehouse_job,
)
from pipelines.schedules import daily_digest, daily_warehouse, weekly_lake_maintenance
from pipelines.sensors import automation_sensor, landing_sensor

# Every asset and check defined in the assets package: a new module there is picked up, none is listed here.
ASSETS = dg.load_assets_from_package_module(assets)
CHECKS = dg.load_asset_checks_from_package_module(assets)


def build_defs(
    paperlake: PaperlakeResource, executor: dg.ExecutorDefinition = dg.in_process_executor
) -> dg.Definitions:
    """Definitions bound to one configuration (tests and `paperlake run` pass their own paths). Runs
    execute in one process by default: a daemon run otherwise starts a Python process per step (seconds
    each, and every step would attach the lake again); the Kubernetes profile passes its own executor."""
    return dg.Definitions(
        executor=executor,
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[ingest_job, update_job, warehouse_job, digest_job, outputs_job, lake_maintenance_job],
        sensors=[landing_sensor, automation_sensor],
        schedules=[daily_warehouse, daily_digest, weekly_lake_maintenance],
        resources={"paperlake": paperlake},
    )


defs = build_defs(resource_from_env())
