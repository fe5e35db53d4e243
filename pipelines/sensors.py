"""The landing-folder sensor and the automation sensor that keeps downstream tables fresh."""

import hashlib

import dagster as dg

from assets.partitions import LANDING_DAYS, landing_days, range_tags
from assets.resources import PaperlakeResource
from paperlake import landing, plan
from paperlake.config import LandingError
from pipelines.jobs import WAREHOUSE, update_job, warehouse_job


def days_request(first: str, last: str, fingerprint: str, plan_name: str) -> dg.RunRequest:
    """One run for a range of landing days (their new or changed files only) and the warehouse after them.
    The run key is the change itself, so a tick that sees the same change while the run is queued asks
    for nothing new."""
    run_key = hashlib.sha256(f"{first}\x1f{last}\x1f{fingerprint}".encode()).hexdigest()[:20]
    return dg.RunRequest(
        run_key=run_key, job_name=update_job.name, tags=range_tags(first, last, True, plan_name)
    )


@dg.sensor(
    jobs=[update_job, warehouse_job],
    minimum_interval_seconds=5,  # a tick is one stat per file and one small read of the lake
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, paperlake: PaperlakeResource) -> dg.SensorResult:
    """Compares the landing folder with what the lake ingested (the same landing state `paperlake run`
    uses), registers new landing days, and runs the days with new, changed or removed files as ranges.
    Days left without files lose their partition; resolution then retracts their rows."""
    keep = paperlake.retain_removed_files
    try:
        run_plan = plan.make(paperlake.paths(), keep_removed=keep)
    except LandingError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    now, change, days_now = run_plan.now, run_plan.change, run_plan.days
    registered = list(context.instance.get_dynamic_partitions(LANDING_DAYS))
    to_add = sorted(days_now - set(registered))
    gone = [] if keep else [d for d in registered if d not in days_now]
    if change.empty and not to_add and not gone:
        return dg.SensorResult(skip_reason=f"no change in {len(now)} files")
    order = [d for d in registered if d not in gone] + to_add
    fingerprint = repr((change.new, change.changed, change.removed, [now[k] for k in change.todo]))
    name = plan.save(paperlake.paths(), run_plan)
    ranges = landing.contiguous_ranges(order, set(change.days))
    runs = [days_request(a, b, fingerprint, name) for a, b in ranges]
    if gone and not runs:
        runs.append(
            dg.RunRequest(
                run_key=f"retract-{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}",
                job_name=warehouse_job.name,
                tags={plan.PLAN_TAG: name},
            )
        )
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if to_add:
        requests.append(landing_days.build_add_request(to_add))
    if gone:
        requests.append(landing_days.build_delete_request(gone))
    context.log.info(f"new {len(change.new)}, changed {len(change.changed)}, removed {len(change.removed)}")
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=requests)


automation_sensor = dg.AutomationConditionSensorDefinition(
    "warehouse_automation",
    target=WAREHOUSE,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds resolution, tables and DuckDB once new partitions have been ingested.",
)
