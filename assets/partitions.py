"""One dynamic partition per landing day (YYYY-MM-DD, see paperlake.landing): about 365 a year, however
many files land. Dagster costs ~20 ms per partition per asset in its SQLite event log, so one partition
per file (10,000 a year) spent minutes on bookkeeping."""

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from paperlake.plan import PLAN_TAG

LANDING_DAYS = "landing_days"
landing_days = dg.DynamicPartitionsDefinition(name=LANDING_DAYS)

# Tag on runs started by the sensor or `paperlake run`: parse only the new or changed files of each day.
# A run without it (a re-run of a day from the UI, `paperlake run --full`) re-parses all of its files.
CHANGED_ONLY_TAG = "paperlake/changed_only"


def range_tags(first: str, last: str, changed_only: bool, plan_name: str) -> dict[str, str]:
    """The tags of a run over landing days first … last (only their new or changed files when
    `changed_only`) that reads the plan `plan_name` (`paperlake.plan`): what the sensor and `paperlake run`
    both launch."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: first,
        ASSET_PARTITION_RANGE_END_TAG: last,
        PLAN_TAG: plan_name,
        **({CHANGED_ONLY_TAG: "true"} if changed_only else {}),
    }


def sync_days(instance: dg.DagsterInstance, days: set[str]) -> tuple[list[str], list[str]]:
    """Register the landing days that have files; delete the partitions of days left without any."""
    registered = set(instance.get_dynamic_partitions(LANDING_DAYS))
    added, gone = sorted(days - registered), sorted(registered - days)
    if added:
        instance.add_dynamic_partitions(LANDING_DAYS, added)
    for day in gone:
        instance.delete_dynamic_partition(LANDING_DAYS, day)
    return added, gone
