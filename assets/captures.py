"""The landing folder (an observable source: its observation is the file manifest) and the per-day
ingestion asset (one partition per landing day, many days per run: single-run backfills)."""

import hashlib
from collections import Counter

import dagster as dg
import pandas as pd

from assets.metadata import PREVIEW_ROWS, md_table, table_metadata
from assets.partitions import CHANGED_ONLY_TAG, landing_days
from assets.resources import WRITER_POOL, PaperlakeResource
from paperlake import landing, progress, steps
from paperlake.frames import frame
from schemas import Pages, Sightings

PROGRESS_EVERY = 0.1
STATUS_ROWS = 50  # files listed by name in the run's metadata (the rest are counted)


def _progress(context: dg.AssetExecutionContext, i: int, n: int, what: str) -> None:
    progress.report(what, i, n)
    step = max(1, int(n * PROGRESS_EVERY))
    if i == n or i % step == 0:
        context.log.info(f"{what}: {i}/{n} files ({100 * i // n}%)")


@dg.multi_observable_source_asset(
    specs=[
        dg.AssetSpec(
            "raw_captures",
            group_name="ingest",
            kinds={"folder"},
            description="The landing folder of raw captures: observed, never copied.",
        )
    ]
)
def raw_captures(paperlake: PaperlakeResource):
    """The manifest (files, bytes, landing days) and its digest as data version: a new, changed or removed
    file is a new version of the source."""
    paths = paperlake.paths()
    now = landing.manifest(paths.raw_dir, paths.written)
    digest = hashlib.sha256(repr(sorted(now.items())).encode()).hexdigest()[:16]
    by_day = Counter(f.day for f in now.values())
    yield dg.ObserveResult(
        asset_key="raw_captures",
        data_version=dg.DataVersion(digest),
        metadata={
            "files": len(now),
            "bytes": sum(f.size for f in now.values()),
            "landing_days": len(by_day),
            "latest_days": dg.MetadataValue.json(dict(sorted(by_day.items())[-10:])),
        },
    )


@dg.asset(
    partitions_def=landing_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[raw_captures],
    group_name="ingest",
    kinds={"python", "pandera", "ducklake"},
    pool=WRITER_POOL,
)
def core_sightings(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """The captures of each landing day read, decoded, parsed and validated against the Sightings contract;
    failures quarantined, every file's status (ok / partial / rejected) in the pages table.

    Runs from the sensor or `paperlake run` parse only the day's new or changed files; a re-run of a day
    parses all of them. Each batch replaces its files' rows in the lake's staging tables in one commit;
    batches run over `paperlake.workers` processes."""
    changed_only = context.run.tags.get(CHANGED_ONLY_TAG) == "true"
    totals: Counter[str] = Counter()
    statuses: list = []
    previews: list = []

    def on_batch(batch: list[str], tables: dict, done: int, total: int) -> None:
        pages = tables[steps.PAGES].to_pandas()
        totals.update(pages[["n_entries", "n_valid", "n_rejected"]].sum().astype(int).to_dict())
        totals.update(f"status_{s}" for s in pages["status"])
        if len(bad := pages[pages["status"] != "ok"]):
            statuses.append(bad)
        for page in bad.itertuples():
            context.log.warning(f"{page.source_file}: status {page.status}, {page.n_rejected} rejected")
        if not previews:
            previews.append(tables[steps.SIGHTINGS].slice(0, PREVIEW_ROWS).to_pandas())
        _progress(context, done, total, "parsed")

    run = steps.ingest_days(
        paperlake.paths(),
        paperlake.plan(context),
        set(context.partition_keys),
        changed_only,
        paperlake.options(),
        paperlake.n_workers(),
        on_batch,
    )
    meta = table_metadata(
        previews[0] if previews else frame([], Sightings),
        Sightings,
        ["source_file", "position", "title", "published_date", "upvotes"],
        steps.SIGHTINGS,
    )
    meta.pop("dagster/row_count", None)  # the rows this run wrote are not the table's count
    meta.update(
        {
            "files_parsed": len(run.parsed),
            "files_retracted": len(run.retracted),
            "changed_only": changed_only,
            "entries": totals["n_entries"],
            "valid": totals["n_valid"],
            "rejected": totals["n_rejected"],
            "file_status": dg.MetadataValue.json(
                {k[7:]: v for k, v in totals.items() if k.startswith("status_")}
            ),
            "files_not_ok": dg.MetadataValue.md(
                md_table(
                    pd.concat(statuses) if statuses else frame([], Pages),
                    ["source_file", "status", "n_valid", "n_rejected", "encoding"],
                    rows=STATUS_ROWS,
                )
            ),
        }
    )
    return dg.MaterializeResult(metadata=meta)
