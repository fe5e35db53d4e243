"""Two jobs: per-file ingestion (partitioned, ranges in one run) and the whole-table warehouse build."""

import dagster as dg

from assets.ingest import core_sightings, raw_pages

INGEST = dg.AssetSelection.assets(raw_pages, core_sightings)
WAREHOUSE = dg.AssetSelection.groups("core", "warehouse", "reports") - INGEST

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=INGEST,
    description="Decode, parse and validate a range of raw files in one run.",
)
warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=WAREHOUSE,
    description="Resolve papers across all files, publish the four tables, rebuild the DuckDB file.",
)
