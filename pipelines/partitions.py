"""One dynamic partition per raw file; the key is the file's path relative to the landing folder."""

import dagster as dg

raw_files = dg.DynamicPartitionsDefinition(name="raw_files")


def not_materialized(instance: dg.DagsterInstance, keys: list[str]) -> set[str]:
    """Registered files whose core_sightings partition is not materialised (never run, or failed)."""
    if not keys:
        return set()
    status = instance.get_status_by_partition(dg.AssetKey("core_sightings"), keys, raw_files) or {}
    return {k for k in keys if status.get(k) != dg.AssetPartitionStatus.MATERIALIZED}
