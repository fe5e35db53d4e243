"""A daily rebuild of the whole-table assets: trending figures and DuckDB stay fresh without new files."""

import dagster as dg

from pipelines.jobs import digest_job, lake_maintenance_job, warehouse_job

daily_warehouse = dg.ScheduleDefinition(
    name="daily_warehouse",
    job=warehouse_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="06:00 UTC: re-run resolution, publish tables, rebuild paperlake.duckdb.",
)

weekly_lake_maintenance = dg.ScheduleDefinition(
    name="weekly_lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays 03:00 UTC: expire versions older than keep_days, merge small files.",
)

daily_digest = dg.ScheduleDefinition(
    name="daily_digest",
    job=digest_job,
    cron_schedule="30 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="06:30 UTC, after the daily warehouse run: render the digests and the Atom feed.",
)
