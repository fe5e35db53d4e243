"""The landing-folder sensor and the automation sensor that keeps downstream tables fresh."""

import hashlib

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from paperlake import landing
from paperlake.config import LandingError
from paperlake.pipeline import landing_files
from pipelines.jobs import WAREHOUSE, ingest_job, warehouse_job
from pipelines.partitions import not_materialized, raw_files
from pipelines.resources import PaperlakeResource


def range_request(first: str, last: str, reason: str) -> dg.RunRequest:
    """One run for a range of files, so a thousand new files cost one run, not a thousand."""
    run_key = hashlib.sha256(f"{first}\x1f{last}\x1f{reason}".encode()).hexdigest()[:20]
    return dg.RunRequest(
        run_key=run_key,
        job_name=ingest_job.name,
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )


@dg.sensor(
    jobs=[ingest_job, warehouse_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, paperlake: PaperlakeResource) -> dg.SensorResult:
    """Registers a partition per new file and runs new or changed files as partition ranges;
    deletes the partitions of removed files and rebuilds the warehouse without them."""
    try:
        files = landing_files(paperlake.paths().raw_dir)
    except LandingError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    change = landing.diff(landing.load_state(context.cursor), files)
    if change.empty:
        return dg.SensorResult(skip_reason=f"no change in {len(files)} files", cursor=context.cursor)
    registered = list(context.instance.get_dynamic_partitions(raw_files.name))
    to_add = [k for k in change.new if k not in registered]
    gone = [] if paperlake.retain_removed_files else [k for k in change.removed if k in registered]
    order = [k for k in registered if k not in gone] + to_add
    todo = (
        set(to_add)
        | set(change.changed)
        | not_materialized(context.instance, [k for k in change.new if k in registered])
    )
    runs = []
    for a, b in landing.contiguous_ranges(order, todo):
        span = order[order.index(a) : order.index(b) + 1]
        runs.append(range_request(a, b, landing.dump_state({k: change.state[k] for k in span})))
    if gone and not runs:
        runs.append(
            dg.RunRequest(
                run_key=f"retract-{hashlib.sha256(''.join(gone).encode()).hexdigest()[:16]}",
                job_name=warehouse_job.name,
            )
        )
    requests = []
    if to_add:
        requests.append(raw_files.build_add_request(to_add))
    if gone:
        requests.append(raw_files.build_delete_request(gone))
    context.log.info(f"new {len(change.new)}, changed {len(change.changed)}, removed {len(change.removed)}")
    return dg.SensorResult(
        run_requests=runs, dynamic_partitions_requests=requests, cursor=landing.dump_state(change.state)
    )


automation_sensor = dg.AutomationConditionSensorDefinition(
    "warehouse_automation",
    target=WAREHOUSE,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds resolution, tables and DuckDB once new partitions have been ingested.",
)
