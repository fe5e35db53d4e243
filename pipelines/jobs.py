"""Jobs: per-day ingestion (partitioned, ranges of days in one run); ingestion and then the warehouse in
one run (what the sensor and `paperlake run` launch); the whole-table warehouse build alone (write → audit
→ publish; the schedule); and the lake's maintenance (retention, small-file merging)."""

import dagster as dg

from assets.captures import core_sightings
from assets.resources import WRITER_POOL, PaperlakeResource
from paperlake import lake

INGEST = dg.AssetSelection.assets(core_sightings)
WAREHOUSE = dg.AssetSelection.groups("core", "warehouse", "reports") - INGEST

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=INGEST,
    description="Read, parse and validate the new or changed captures of a range of landing days in one run.",
)
update_job = dg.define_asset_job(
    "update_job",
    selection=INGEST | WAREHOUSE,
    description="The new or changed captures of a range of landing days, then the warehouse (resolve, "
    "write, audit, publish): one run from landing to a published version.",
)
warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=WAREHOUSE,
    description="Resolve papers, write the tables into the lake, audit them, publish a new version.",
)


digest_job = dg.define_asset_job(
    "digest_job",
    selection=dg.AssetSelection.assets("out_digest"),
    description="Render what's new: the served version's and its day's digest, and the Atom feed.",
)

outputs_job = dg.define_asset_job(
    "outputs_job",
    selection=dg.AssetSelection.assets("out_report", "out_digest"),
    description="Write the served version's report and digest when a stopped or failed run left them "
    "unwritten (`paperlake run` does it instead of saying there is nothing new).",
)


@dg.op(pool=WRITER_POOL)
def maintain_lake(context: dg.OpExecutionContext, paperlake: PaperlakeResource) -> None:
    """Expire lake snapshots older than `keep_days` (never the published one), merge small files."""
    done = lake.maintain(paperlake.paths(), paperlake.keep_days)
    context.log.info(f"lake maintenance: {done}")


@dg.job(description="Lake retention: expire old versions, merge small data files, delete unused files.")
def lake_maintenance_job() -> None:
    maintain_lake()
