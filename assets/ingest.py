"""Per-file assets: one partition per raw capture, many partitions per run (single-run backfills)."""

import functools
from collections import Counter

import dagster as dg

from assets.metadata import PREVIEW_ROWS, table_metadata
from paperlake import lake, pipeline, progress
from paperlake.frames import frame
from paperlake.parallel import map_batches
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
    kinds={"python", "ducklake"},
    pool=WRITER_POOL,
)
def raw_pages(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Each raw file read as bytes and decoded (BOM, UTF-8, cp1252, Latin-1), its header and page date read.

    Files that are binary, empty or not a capture are kept with a reject reason, never dropped. A range of
    files is split into batches over `paperlake.workers` processes; each batch's pages replace that
    file's rows in the lake's staging.raw_pages in one commit."""
    paths, keys = paperlake.paths(), context.partition_keys
    decode = functools.partial(pipeline.decode_files, paths.raw_dir, options=paperlake.options())
    by_reason: Counter[str] = Counter()
    done = 0
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        for batch, decoded in map_batches(decode, keys, RAW_BATCH, paperlake.n_workers()):
            by_reason.update(pipeline.write_raw(con, decoded).values())
            by_reason["ok (retained)"] += len(batch) - decoded.num_rows
            done += len(batch)
            _progress(context, done, len(keys), "decoded")
    return dg.MaterializeResult(metadata={"files": len(keys), "outcome": dg.MetadataValue.json(+by_reason)})


@dg.asset(
    partitions_def=raw_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_pages],
    group_name="ingest",
    kinds={"python", "pandera", "ducklake"},
    pool=WRITER_POOL,
)
def core_sightings(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Entries parsed from each page and validated against the Sightings contract; failures quarantined.

    Each batch of files replaces those files' rows in the lake's staging pages, sightings and rejects in
    one commit. Batches are validated together, over `paperlake.workers` processes."""
    paths, keys = paperlake.paths(), context.partition_keys
    parse = functools.partial(pipeline.parse_files, paths, options=paperlake.options())
    totals: Counter[str] = Counter()
    done, preview = 0, None
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        for batch, tables in map_batches(parse, keys, pipeline.CORE_BATCH, paperlake.n_workers()):
            pipeline.write_parsed(con, batch, tables)
            pages = tables[pipeline.PAGES].to_pandas()
            totals.update(pages[["n_entries", "n_valid", "n_rejected"]].sum().astype(int).to_dict())
            for page in pages[pages["status"] != "ok"].itertuples():
                context.log.warning(f"{page.source_file}: status {page.status}, {page.n_rejected} rejected")
            if preview is None:
                preview = tables[pipeline.SIGHTINGS].slice(0, PREVIEW_ROWS).to_pandas()
            done += len(batch)
            _progress(context, done, len(keys), "parsed")
    meta = table_metadata(
        preview if preview is not None else frame([], Sightings),
        Sightings,
        ["source_file", "position", "title", "published_date", "upvotes"],
        pipeline.SIGHTINGS,
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
