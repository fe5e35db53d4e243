"""The schedules, every one in UTC and running by default: a daily rebuild of the whole-table assets
(trending figures and DuckDB stay fresh without new files), the daily digest after it, and the weekly
lake maintenance."""

from typing import Any

import dagster as dg

from pipelines.jobs import digest_job, lake_maintenance_job, warehouse_job


def _utc(name: str, job: Any, cron: str, description: str) -> dg.ScheduleDefinition:
    """`job`: a job or an asset job (`define_asset_job`, whose class dagster does not export)."""
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )


daily_warehouse = _utc(
    "daily_warehouse",
    warehouse_job,
    "0 6 * * *",
    "06:00 UTC: re-run resolution, publish tables, rebuild paperlake.duckdb.",
)
weekly_lake_maintenance = _utc(
    "weekly_lake_maintenance",
    lake_maintenance_job,
    "0 3 * * 0",
    "Sundays 03:00 UTC: expire versions older than keep_days, merge small files.",
)
daily_digest = _utc(
    "daily_digest",
    digest_job,
    "30 6 * * *",
    "06:30 UTC, after the daily warehouse run: render the digests and the Atom feed.",
)
