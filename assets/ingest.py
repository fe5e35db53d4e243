"""Per-file assets: one partition per raw capture, many partitions per run (single-run backfills)."""

import functools
from collections import Counter

import dagster as dg

from assets.metadata import table_metadata
from paperlake import pipeline, progress
from paperlake.parallel import map_batches
from paperlake.warehouse import read_slices
from pipelines.partitions import raw_files
from pipelines.resources import WRITER_POOL, PaperlakeResource
from schemas import Sightings

PROGRESS_EVERY = 0.1
RAW_BATCH = 500  # files read per batch: a few tens of MB of decoded text in memory per worker


def _progress(context: dg.AssetExecutionContext, i: int, n: int, what: str) -> None:
    progress.report(what, i, n)
    step = max(1, int(n * PROGRESS_EVERY))
    if i == n or i % step == 0:
        context.log.info(f"{what}: {i}/{n} files ({100 * i // n}%)")


@dg.asset(
    partitions_def=raw_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingest",
    kinds={"python", "arrow"},
    pool=WRITER_POOL,
)
def raw_pages(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Each raw file read as bytes and decoded (BOM, UTF-8, cp1252, Latin-1), its header and page date read.

    Files that are binary, empty or not a capture are kept with a reject reason, never dropped. A range of
    files is split into batches over `paperlake.workers` processes."""
    paths, keys = paperlake.paths(), context.partition_keys
    stage = functools.partial(pipeline.stage_raw, paths, options=paperlake.options())
    by_reason: Counter[str] = Counter()
    done = 0
    for batch, outcome in map_batches(stage, keys, RAW_BATCH, paperlake.n_workers()):
        by_reason.update(outcome.values())
        done += len(batch)
        _progress(context, done, len(keys), "decoded")
    return dg.MaterializeResult(metadata={"files": len(keys), "outcome": dg.MetadataValue.json(by_reason)})


@dg.asset(
    partitions_def=raw_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_pages],
    group_name="ingest",
    kinds={"python", "pandera", "arrow"},
    pool=WRITER_POOL,
)
def core_sightings(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Entries parsed from each page and validated against the Sightings contract; failures quarantined.

    Writes one slice per file (pages, sightings, rejects), replacing that file's previous slice. Batches
    of files are validated together, over `paperlake.workers` processes."""
    paths, keys = paperlake.paths(), context.partition_keys
    stage = functools.partial(pipeline.stage_core, paths, options=paperlake.options())
    totals, done = Counter(), 0
    for batch, pages in map_batches(stage, keys, pipeline.CORE_BATCH, paperlake.n_workers()):
        totals.update(pages[["n_entries", "n_valid", "n_rejected"]].sum().astype(int).to_dict())
        for page in pages[pages["status"] != "ok"].itertuples():
            context.log.warning(f"{page.source_file}: status {page.status}, {page.n_rejected} rejected")
        done += len(batch)
        _progress(context, done, len(keys), "parsed")
    preview = read_slices(paths.staging_dir(pipeline.SIGHTINGS_STAGE), Sightings, keys[:1])
    meta = table_metadata(
        preview,
        Sightings,
        ["source_file", "position", "title", "published_date", "upvotes"],
        str(paths.staging_dir(pipeline.SIGHTINGS_STAGE)),
    )
    meta.update(
        {
            "dagster/row_count": totals["n_valid"],
            "files": len(keys),
            "entries": totals["n_entries"],
            "rejected": totals["n_rejected"],
        }
    )
    return dg.MaterializeResult(metadata=meta)
