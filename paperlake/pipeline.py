"""The pipeline's steps as plain functions over paths: what each Dagster asset calls, and what tests call.

raw (per file) → stage_raw → stage_core (per file) → resolve_all → publish_* → build_duckdb
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from paperlake.config import Paths
from paperlake.enrich import enrich
from paperlake.frames import conform
from paperlake.ingest import PageTables, process_page, raw_page_from_record, raw_page_record, read_raw
from paperlake.parse import ParseOptions, RawPage
from paperlake.resolve import assign_papers, survive
from paperlake.warehouse import (
    read_slices,
    remove_slices,
    slice_name,
    write_parquet_atomic,
    write_slice,
    write_table,
)
from schemas import Pages, Papers, Rejects, ResolvedSightings, Sightings

RAW_STAGE, PAGES_STAGE, SIGHTINGS_STAGE, REJECTS_STAGE = "raw_pages", "pages", "sightings", "rejects"
CORE_PAPERS = "core_papers.parquet"
CORE_MEMBERS = "core_paper_members.parquet"


class LandingError(RuntimeError):
    """The landing folder cannot be used; the message names the path."""


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


def stage_raw(paths: Paths, key: str) -> RawPage:
    """Read and decode one landing file; stage the decoded page (text included) for stage_core."""
    page = read_raw(paths.raw_dir / key, paths.raw_dir)
    rec = raw_page_record(page)
    table = pa_arrow.Table.from_pylist([rec], schema=_RAW_SCHEMA)
    write_parquet_atomic(table, paths.staging_dir(RAW_STAGE) / slice_name(key))
    return page


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


def load_raw(paths: Paths, key: str) -> RawPage:
    rec = pq.read_table(paths.staging_dir(RAW_STAGE) / slice_name(key)).to_pylist()[0]
    return raw_page_from_record(rec)


def stage_core(paths: Paths, key: str, options: ParseOptions | None = None) -> PageTables:
    """Parse and validate one staged page; write its pages/sightings/rejects slices (replacing old ones)."""
    tables = process_page(load_raw(paths, key), options)
    write_slice(tables.pages, Pages, paths.staging_dir(PAGES_STAGE), key)
    write_slice(tables.sightings, Sightings, paths.staging_dir(SIGHTINGS_STAGE), key)
    write_slice(tables.rejects, Rejects, paths.staging_dir(REJECTS_STAGE), key)
    return tables


@dataclass
class Resolution:
    sightings: pd.DataFrame  # ResolvedSightings rows
    papers: pd.DataFrame  # survived papers, before enrichment


def resolve_all(paths: Paths, keys: list[str]) -> Resolution:
    """Entity resolution over the sightings of every current file; stages papers and memberships."""
    sightings = read_slices(paths.staging_dir(SIGHTINGS_STAGE), Sightings, keys)
    resolved = assign_papers(sightings)
    papers = survive(resolved)
    staging = paths.staging
    staging.mkdir(parents=True, exist_ok=True)
    members = resolved[["sighting_id", "paper_id", "title_key"]]
    write_parquet_atomic(pa_arrow.Table.from_pandas(members, preserve_index=False), staging / CORE_MEMBERS)
    write_parquet_atomic(pa_arrow.Table.from_pandas(papers, preserve_index=False), staging / CORE_PAPERS)
    return Resolution(conform(resolved, ResolvedSightings), papers)


def _staged(paths: Paths, name: str) -> pd.DataFrame:
    return pq.read_table(paths.staging / name).to_pandas()


def publish_sightings(paths: Paths, keys: list[str]) -> pd.DataFrame:
    sightings = read_slices(paths.staging_dir(SIGHTINGS_STAGE), Sightings, keys)
    members = _staged(paths, CORE_MEMBERS)[["sighting_id", "paper_id"]]
    out = sightings.merge(members, on="sighting_id", how="left", validate="one_to_one")
    out = conform(out.sort_values(["source_file", "position"]).reset_index(drop=True), ResolvedSightings)
    write_table(out, "sightings", paths)
    return out


def publish_papers(paths: Paths) -> pd.DataFrame:
    papers = (
        conform(enrich(_staged(paths, CORE_PAPERS)), Papers).sort_values("paper_id").reset_index(drop=True)
    )
    write_table(papers, "papers", paths)
    return papers


def publish_pages(paths: Paths, keys: list[str]) -> pd.DataFrame:
    pages = read_slices(paths.staging_dir(PAGES_STAGE), Pages, keys).sort_values("source_file")
    pages = pages.reset_index(drop=True)
    write_table(pages, "pages", paths)
    return pages


def publish_rejects(paths: Paths, keys: list[str]) -> pd.DataFrame:
    rejects = read_slices(paths.staging_dir(REJECTS_STAGE), Rejects, keys)
    rejects = rejects.sort_values(["source_file", "line_start"], na_position="first", kind="stable")
    rejects = rejects.reset_index(drop=True)
    write_table(rejects, "rejects", paths)
    return rejects


def prune_slices(paths: Paths, keys: list[str]) -> list[str]:
    """Remove the staged slices of files that are no longer partitions (retraction of removed files)."""
    keep, removed = set(keys), set()
    for stage in (RAW_STAGE, PAGES_STAGE, SIGHTINGS_STAGE, REJECTS_STAGE):
        removed.update(remove_slices(paths.staging_dir(stage), keep))
    return sorted(removed)
