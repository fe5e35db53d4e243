"""The pipeline's steps as plain functions over paths: what each Dagster asset calls, and what tests call.

Every step writes into the lake (paperlake.lake); nothing is visible to readers until `publish`:
  landing files → decode (batches) → staging.raw_pages → parse + validate (batches) → staging.pages /
  sightings / rejects (a file's rows replaced) → resolve → main.pages, sightings, rejects, matches,
  upvote_history → enrich → main.papers, paper_links, paper_topics → audit (checks) → publish
"""

import json
from dataclasses import asdict
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa_arrow

from paperlake import enrich_index, lake
from paperlake.config import TABLES, LandingError, Paths
from paperlake.frames import arrow_schema, from_arrow, to_arrow
from paperlake.ingest import process_pages, raw_page_from_record, read_raw
from paperlake.parse import ParseOptions
from paperlake.resolve import MatchRules, Registry, Resolution, resolve, upvote_history
from paperlake.warehouse import SORT_KEYS, build_serving, served_version
from schemas import (
    CONTRACT,
    Pages,
    Rejects,
    Sightings,
)

A = lake.ALIAS
RAW, PAGES, SIGHTINGS, REJECTS = (f"{A}.staging.{t}" for t in ("raw_pages", "pages", "sightings", "rejects"))
STAGED = {PAGES: Pages, SIGHTINGS: Sightings, REJECTS: Rejects}
PAPERS_CORE, REGISTRY_RECORDS, REGISTRY_ALIASES = (
    f"{A}.staging.{t}" for t in ("papers_core", "registry_records", "registry_aliases")
)
CORE_BATCH = 500  # files parsed and validated together: bounds memory, amortises Pandera's per-call cost


def main_table(table: str) -> str:
    return f"{A}.main.{table}"


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


def decode_files(raw_dir: Path, keys: list[str], options: ParseOptions | None = None) -> pa_arrow.Table:
    """Read and decode the landing files of `keys` that exist (a worker's unit of work); a file that is
    gone is skipped, so a retained removed file keeps its staged page."""
    pages = [read_raw(raw_dir / k, raw_dir, options) for k in keys if (raw_dir / k).exists()]
    return pa_arrow.Table.from_pylist([asdict(p) for p in pages], schema=_RAW_SCHEMA)


def write_raw(con: duckdb.DuckDBPyConnection, decoded: pa_arrow.Table) -> dict[str, str]:
    """Replace the staged pages of the decoded files; returns file → outcome ('ok' or its reject reason)."""
    keys = decoded.column("source_file").to_pylist()
    lake.replace_rows(con, {RAW: decoded}, keys)
    return {k: r or "ok" for k, r in zip(keys, decoded.column("reason").to_pylist(), strict=True)}


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


def parse_files(
    paths: Paths, keys: list[str], options: ParseOptions | None = None
) -> dict[str, pa_arrow.Table]:
    """Parse and validate one batch of staged pages together (a worker's unit of work): the batch's
    pages, sightings and rejects rows, keyed by the staging table they replace rows in."""
    with lake.open_lake(paths, read_only=True) as con:
        recs = lake.read(
            con, RAW, _RAW_SCHEMA, "WHERE source_file IN (SELECT unnest($k::VARCHAR[]))", {"k": keys}
        )
    by_key = {r["source_file"]: raw_page_from_record(r) for r in recs.to_pylist()}
    tables = process_pages([by_key[k] for k in keys if k in by_key], options)
    return {
        PAGES: to_arrow(tables.pages, Pages),
        SIGHTINGS: to_arrow(tables.sightings, Sightings),
        REJECTS: to_arrow(tables.rejects, Rejects),
    }


def write_parsed(con: duckdb.DuckDBPyConnection, keys: list[str], tables: dict[str, pa_arrow.Table]) -> None:
    """Replace the batch's files' rows in the three staging tables, in one commit."""
    lake.replace_rows(con, tables, keys)


def unstaged(paths: Paths, keys: list[str]) -> set[str]:
    """Keys with no pages row in the lake (never ingested, or the lake was wiped)."""
    with lake.open_lake(paths) as con:
        files = lake.read(con, PAGES, pa_arrow.schema([("source_file", pa_arrow.string())]))
    have = set(files.column("source_file").to_pylist())
    return set(keys) - have


def load_registry(con: duckdb.DuckDBPyConnection) -> Registry:
    """The identity registry of the previous resolution (empty on the first run)."""
    if not lake.table_exists(con, REGISTRY_RECORDS):
        return Registry()
    return Registry(
        con.sql(f"SELECT * FROM {REGISTRY_RECORDS}").df(), con.sql(f"SELECT * FROM {REGISTRY_ALIASES}").df()
    )


def _replace_whole(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Resolution outputs that are re-derived in full each run, replaced together in one commit."""
    con.execute("BEGIN")
    for name, df in tables.items():
        con.register("_df", pa_arrow.Table.from_pandas(df, preserve_index=False))
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _df")
        con.unregister("_df")
    con.execute("COMMIT")


def _sync(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> pa_arrow.Table:
    rows = to_arrow(df, CONTRACT[table])
    lake.sync_table(con, main_table(table), rows, SORT_KEYS[table])
    return rows


def resolve_all(
    paths: Paths, keys: list[str], rules: MatchRules | None = None
) -> tuple[Resolution, list[str], dict[str, pa_arrow.Table]]:
    """Retract the rows of files that are no longer in `keys`, resolve every current file's sightings into
    papers, and write pages, rejects, sightings, matches and upvote_history to the lake's main tables
    (only the rows that changed). The id registry is kept between runs so that paper_ids stay stable.
    Returns the resolution, the retracted files and each written table's rows (as Arrow)."""
    with lake.open_lake(paths) as con:
        retracted = lake.delete_keys(con, [RAW, *STAGED], keys)
        staged = {t: from_arrow(lake.read(con, t, arrow_schema(m)), m) for t, m in STAGED.items()}
        res = resolve(staged[SIGHTINGS], load_registry(con), rules)
        _replace_whole(
            con,
            {
                PAPERS_CORE: res.papers,
                REGISTRY_RECORDS: res.registry.records,
                REGISTRY_ALIASES: res.registry.aliases,
            },
        )
        frames = {
            "pages": mark_duplicate_pages(staged[PAGES]),
            "rejects": staged[REJECTS],
            "sightings": res.sightings,
            "matches": res.matches,
            "upvote_history": upvote_history(res.sightings),
        }
        written = {table: _sync(con, table, df) for table, df in frames.items()}
    return res, retracted, written


def mark_duplicate_pages(pages: pd.DataFrame) -> pd.DataFrame:
    """Same bytes under several names: the first name is the page, the others point at it."""
    readable = pages[pages["page_id"] != ""].sort_values("source_file")
    first = readable.drop_duplicates("page_id").set_index("page_id")["source_file"]
    canonical = pages["page_id"].map(first)
    dup = canonical.notna() & (canonical != pages["source_file"])
    return pages.assign(duplicate_of=canonical.where(dup, None))


def publish_papers(
    paths: Paths, changed: set[str] | None = None, full: bool = False
) -> enrich_index.Published:
    """Enrich the resolved papers into papers, paper_links and paper_topics: only the papers whose
    papers_core row changed (all of `changed` when the caller knows them, else found by hash) and those
    their change touches, unless `full` or the stored text index is missing or stale
    (paperlake.enrich_index). Returns each table's rows as written and its row count."""
    with lake.open_lake(paths) as con:
        return enrich_index.publish(con, PAPERS_CORE, changed, full)


def read_staged(paths: Paths, table: str) -> pd.DataFrame:
    """A staging table (pages, sightings or rejects) with its model's types."""
    with lake.open_lake(paths, read_only=True) as con:
        return from_arrow(lake.read(con, table, arrow_schema(STAGED[table])), STAGED[table])


def read_main(paths: Paths, table: str) -> pd.DataFrame:
    """A main table as the warehouse steps last wrote it: what the audit examines before publishing."""
    with lake.open_lake(paths, read_only=True) as con:
        rows = lake.read(con, main_table(table), arrow_schema(CONTRACT[table]))
    return from_arrow(rows, CONTRACT[table])


def publish(paths: Paths, run_id: str) -> tuple[int, dict[str, int]]:
    """Make the audited state visible: the lake's current snapshot becomes a published version, and the
    serving file is rebuilt from exactly that snapshot and swapped in. Returns (version, row counts).
    When no main table changed since the last published version, that version stays (no new one)."""
    with lake.open_lake(paths) as con:
        last = lake.last_version(con)
        unchanged = last is not None and not lake.main_changed_since(con, last)
        if unchanged and paths.duckdb_path.exists() and served_version(paths) == last:
            counts = json.loads(
                con.execute(
                    f"SELECT row_counts FROM {lake.VERSIONS} WHERE version = $v", {"v": last}
                ).fetchone()[0]
            )
            return last, counts
        version = lake.current_snapshot(con)
        counts = {t: int(con.sql(f"SELECT count(*) FROM {main_table(t)}").fetchone()[0]) for t in TABLES}
        build_serving(paths, version, run_id)
        lake.record_version(con, version, run_id, counts)
    return version, counts
