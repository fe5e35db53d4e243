"""Per-file assets: one partition per raw capture, many partitions per run (single-run backfills)."""

import dagster as dg
import pandas as pd

from assets.metadata import table_metadata
from paperlake import pipeline, progress
from pipelines.partitions import raw_files
from pipelines.resources import WRITER_POOL, PaperlakeResource
from schemas import Sightings

PROGRESS_EVERY = 0.1


def _progress(context: dg.AssetExecutionContext, i: int, n: int, what: str) -> None:
    progress.report(what, i, n)
    step = max(1, int(n * PROGRESS_EVERY))
    if i == n or i % step == 0:
        context.log.info(f"{what}: {i}/{n} files ({100 * i // n}%)")


@dg.asset(
    partitions_def=raw_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"python", "parquet"},
    pool=WRITER_POOL,
)
def raw_pages(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Each raw file read as bytes and decoded (BOM, UTF-8, cp1252, Latin-1), its header and page date read.

    Files that are binary, empty or not a capture are kept with a reject reason, never dropped."""
    paths, keys, options = paperlake.paths(), context.partition_keys, paperlake.options()
    by_reason: dict[str, int] = {}
    for i, key in enumerate(keys, 1):
        page = pipeline.stage_raw(paths, key, options)
        by_reason[page.reason or "ok"] = by_reason.get(page.reason or "ok", 0) + 1
        _progress(context, i, len(keys), "decoded")
    return dg.MaterializeResult(metadata={"files": len(keys), "outcome": dg.MetadataValue.json(by_reason)})


@dg.asset(
    partitions_def=raw_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_pages],
    group_name="ingest",
    kinds={"python", "pandera", "parquet"},
    pool=WRITER_POOL,
)
def core_sightings(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Entries parsed from each page and validated against the Sightings contract; failures quarantined.

    Writes one slice per file (pages, sightings, rejects), replacing that file's previous slice."""
    paths, keys, options = paperlake.paths(), context.partition_keys, paperlake.options()
    preview, n_entries, n_valid, n_rejected = None, 0, 0, 0
    for lo in range(0, len(keys), pipeline.CORE_BATCH):
        for tables in pipeline.stage_core(paths, keys[lo : lo + pipeline.CORE_BATCH], options):
            page = tables.pages.iloc[0]
            n_entries, n_valid = n_entries + int(page["n_entries"]), n_valid + int(page["n_valid"])
            n_rejected += int(page["n_rejected"])
            if page["status"] != "ok":
                context.log.warning(
                    f"{page['source_file']}: status {page['status']}, {page['n_rejected']} rejected"
                )
            preview = tables.sightings if preview is None else preview
        _progress(context, min(lo + pipeline.CORE_BATCH, len(keys)), len(keys), "parsed")
    meta = table_metadata(
        preview if preview is not None else pd.DataFrame(columns=["title"]),
        Sightings,
        ["source_file", "position", "title", "published_date", "upvotes"],
        str(paths.staging_dir(pipeline.SIGHTINGS_STAGE)),
    )
    meta.update(
        {"dagster/row_count": n_valid, "files": len(keys), "entries": n_entries, "rejected": n_rejected}
    )
    return dg.MaterializeResult(metadata=meta)
