"""The pipeline's steps as plain functions over paths: what each Dagster asset calls, and what tests call.

raw files → stage_raw (batches) → stage_core (batches) → resolve_all (snapshot) → publish → build_duckdb
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from paperlake.config import LandingError, Paths
from paperlake.enrich import enrich, paper_links, paper_topics
from paperlake.frames import arrow_schema, conform, to_arrow
from paperlake.ingest import process_pages, raw_page_from_record, read_raw
from paperlake.parse import ParseOptions, RawPage
from paperlake.resolve import MatchRules, Registry, Resolution, resolve, upvote_history
from paperlake.warehouse import (
    TABLE_FILE,
    read_slice_tables,
    read_slices,
    remove_slices,
    slice_name,
    write_frame,
    write_parquet_atomic,
    write_slices,
    write_table,
)
from schemas import (
    CONTRACT,
    Matches,
    Pages,
    PaperLinks,
    Papers,
    PaperTopics,
    Rejects,
    ResolvedSightings,
    Sightings,
    UpvoteHistory,
)

RAW_STAGE, PAGES_STAGE, SIGHTINGS_STAGE, REJECTS_STAGE = "raw_pages", "pages", "sightings", "rejects"
SNAPSHOT = "resolved"


def landing_files(raw_dir: Path) -> dict[str, Path]:
    """Partition key (posix path relative to raw_dir) → file, for every regular, non-hidden file.

    Hidden files and folders (a leading '.') are editor and download temp files by convention and are
    not captures; everything else is read, and a non-capture becomes a rejected page.
    """
    if not raw_dir.exists():
        raise LandingError(f"landing folder does not exist: {raw_dir}")
    if not raw_dir.is_dir():
        raise LandingError(f"landing folder is not a folder: {raw_dir}")
    out: dict[str, Path] = {}
    try:
        for path in sorted(raw_dir.rglob("*")):
            rel = path.relative_to(raw_dir)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            out[rel.as_posix()] = path
    except PermissionError as exc:
        raise LandingError(f"landing folder is not readable: {exc.filename or raw_dir}") from exc
    return out


def stage_raw(paths: Paths, keys: list[str], options: ParseOptions | None = None) -> dict[str, str]:
    """Read and decode landing files; stage each decoded page (text included) for stage_core.
    Returns key → outcome ('ok' or the file's reject reason).

    A file that is gone but was staged before (a retained removed file) keeps its staged page."""
    folder = paths.staging_dir(RAW_STAGE)
    kept = {k for k in keys if not (paths.raw_dir / k).exists() and (folder / slice_name(k)).exists()}
    fresh = [k for k in keys if k not in kept]
    pages = [read_raw(paths.raw_dir / k, paths.raw_dir, options) for k in fresh]
    write_slices(pa_arrow.Table.from_pylist([asdict(p) for p in pages], schema=_RAW_SCHEMA), folder, fresh)
    outcome = {p.source_file: p.reason or "ok" for p in pages}
    return {k: outcome.get(k, "ok (retained)") for k in keys}


_RAW_SCHEMA = pa_arrow.schema(
    [
        ("page_id", pa_arrow.string()),
        ("source_file", pa_arrow.string()),
        ("n_bytes", pa_arrow.int64()),
        ("encoding", pa_arrow.string()),
        ("text", pa_arrow.large_string()),
        ("body_start", pa_arrow.int64()),
        ("page_date", pa_arrow.date32()),
        ("page_date_raw", pa_arrow.string()),
        ("page_date_source", pa_arrow.string()),
        ("reason", pa_arrow.string()),
        ("detail", pa_arrow.string()),
        ("excerpt", pa_arrow.string()),
        ("n_lines", pa_arrow.int64()),
    ]
)


def load_raw(paths: Paths, keys: list[str]) -> list[RawPage]:
    """The staged pages of `keys`, in that order."""
    recs = read_slice_tables(paths.staging_dir(RAW_STAGE), _RAW_SCHEMA, keys).to_pylist()
    by_key = {r["source_file"]: raw_page_from_record(r) for r in recs}
    return [by_key[k] for k in keys]


CORE_BATCH = 500  # files validated together: bounds memory, amortises Pandera's per-call cost


def stage_core(paths: Paths, keys: list[str], options: ParseOptions | None = None) -> pd.DataFrame:
    """Parse and validate one batch of staged pages together; write each file's pages, sightings and
    rejects slices (replacing old ones). Returns the batch's pages rows (the per-file counts)."""
    tables = process_pages(load_raw(paths, keys), options)
    write_slices(to_arrow(tables.pages, Pages), paths.staging_dir(PAGES_STAGE), keys)
    write_slices(to_arrow(tables.sightings, Sightings), paths.staging_dir(SIGHTINGS_STAGE), keys)
    write_slices(to_arrow(tables.rejects, Rejects), paths.staging_dir(REJECTS_STAGE), keys)
    return tables.pages


def unstaged(paths: Paths, keys: list[str]) -> set[str]:
    """Keys whose last stage has no slice (never ingested, or staging was wiped or from an older format)."""
    folder = paths.staging_dir(REJECTS_STAGE)
    have = {p.name for p in folder.iterdir()} if folder.exists() else set()
    return {k for k in keys if slice_name(k) not in have}


def _snapshot_path(paths: Paths, table: str) -> Path:
    return paths.staging_dir(SNAPSHOT) / f"{table}.parquet"


def load_registry(paths: Paths) -> Registry:
    """The identity registry of the previous resolution (empty on the first run)."""
    recs, aliases = _snapshot_path(paths, "registry_records"), _snapshot_path(paths, "registry_aliases")
    if not recs.exists():
        return Registry()
    return Registry(pq.read_table(recs).to_pandas(), pq.read_table(aliases).to_pandas())


def _write_plain(df: pd.DataFrame, path: Path) -> None:
    write_parquet_atomic(pa_arrow.Table.from_pandas(df, preserve_index=False), path)


def resolve_all(paths: Paths, keys: list[str], rules: MatchRules | None = None) -> Resolution:
    """Take one cut of every current file's slices, resolve papers, and stage the cut as a snapshot.

    Every published table comes from this snapshot, so pages, sightings, rejects and papers agree with
    each other even when a file is re-ingested while the warehouse is being built. The id registry
    is kept between runs so that paper_ids stay stable."""
    pages = mark_duplicate_pages(read_slices(paths.staging_dir(PAGES_STAGE), Pages, keys))
    rejects = read_slices(paths.staging_dir(REJECTS_STAGE), Rejects, keys)
    sightings = read_slices(paths.staging_dir(SIGHTINGS_STAGE), Sightings, keys)
    res = resolve(sightings, load_registry(paths), rules)
    write_frame(pages, Pages, _snapshot_path(paths, "pages"))
    write_frame(rejects, Rejects, _snapshot_path(paths, "rejects"))
    write_frame(res.sightings, ResolvedSightings, _snapshot_path(paths, "sightings"))
    write_frame(res.matches, Matches, _snapshot_path(paths, "matches"))
    write_frame(upvote_history(res.sightings), UpvoteHistory, _snapshot_path(paths, "upvote_history"))
    _write_plain(res.papers, _snapshot_path(paths, "papers_core"))
    _write_plain(res.registry.records, _snapshot_path(paths, "registry_records"))
    _write_plain(res.registry.aliases, _snapshot_path(paths, "registry_aliases"))
    return res


def mark_duplicate_pages(pages: pd.DataFrame) -> pd.DataFrame:
    """Same bytes under several names: the first name is the page, the others point at it."""
    readable = pages[pages["page_id"] != ""].sort_values("source_file")
    first = readable.drop_duplicates("page_id").set_index("page_id")["source_file"]
    canonical = pages["page_id"].map(first)
    dup = canonical.notna() & (canonical != pages["source_file"])
    return pages.assign(duplicate_of=canonical.where(dup, None))


SORT_KEYS = {
    "pages": ["source_file"],
    "sightings": ["source_file", "position"],
    "rejects": ["source_file", "line_start", "position"],
    "matches": ["record_a", "record_b"],
    "upvote_history": ["paper_id", "page_date"],
    "paper_links": ["paper_id", "url"],
    "paper_topics": ["paper_id", "topic"],
}


def publish(paths: Paths, table: str) -> pa_arrow.Table:
    """Write a table other than papers from the snapshot, in a stable row order. Arrow end to end: the
    snapshot already has the contract's types, and a pandas round trip was most of the 12 s that
    publishing 570,000 sightings took."""
    snapshot = pq.read_table(_snapshot_path(paths, table), schema=arrow_schema(CONTRACT[table]))
    ordered = snapshot.sort_by([(k, "ascending", "at_start") for k in SORT_KEYS[table]])
    write_parquet_atomic(ordered, paths.table_dir(table) / TABLE_FILE)
    return ordered


def publish_papers(paths: Paths) -> pd.DataFrame:
    """Enrich the resolved papers, write the papers table and stage its links and topics."""
    core = pq.read_table(_snapshot_path(paths, "papers_core")).to_pandas()
    enriched = enrich(core.sort_values("paper_id").reset_index(drop=True))
    write_frame(paper_links(enriched), PaperLinks, _snapshot_path(paths, "paper_links"))
    write_frame(paper_topics(enriched), PaperTopics, _snapshot_path(paths, "paper_topics"))
    papers = conform(enriched, Papers)
    write_table(papers, "papers", paths)
    return papers


def prune_slices(paths: Paths, keys: list[str]) -> list[str]:
    """Remove the staged slices of files that are no longer partitions (retraction of removed files)."""
    keep, removed = set(keys), set()
    for stage in (RAW_STAGE, PAGES_STAGE, SIGHTINGS_STAGE, REJECTS_STAGE):
        removed.update(remove_slices(paths.staging_dir(stage), keep))
    return sorted(removed)
