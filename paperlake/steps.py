"""The pipeline's steps as plain functions over paths: what each Dagster asset calls, and what tests call.

Every step writes into the lake (paperlake.lake); nothing is visible to readers until `publish`:
  landing files (manifest per landing day) → read + decode + parse + validate (batches) → staging.pages /
  sightings / rejects / files (a file's rows replaced) → resolve → main.pages, sightings, rejects, matches,
  upvote_history → enrich → main.papers, paper_links, paper_topics → audit (checks) → publish
"""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa_arrow
import pyarrow.compute as pc

from paperlake import commit, lake, landing, state
from paperlake.config import Paths
from paperlake.duck import Connection, row_counts, scalar
from paperlake.enrich import index as enrich_index
from paperlake.frames import arrow_schema, from_arrow, to_arrow
from paperlake.ingest import process_pages, read_raw
from paperlake.parallel import map_batches
from paperlake.parse import ParseOptions
from paperlake.plan import RunPlan
from paperlake.resolve import engine, scope, write
from paperlake.resolve.pairs import MatchRules
from paperlake.resolve.scope import PAPERS_CORE
from paperlake.state import FILES, FILES_SCHEMA, ingested_state
from paperlake.warehouse import build_serving, publish_serving
from schemas import CONTRACT, Pages, Rejects, Sightings
from schemas.catalog import TABLES
from schemas.vocabulary import MatchRule

RAW, PAGES, SIGHTINGS, REJECTS = map(lake.staging_table, ("raw_pages", "pages", "sightings", "rejects"))
STAGED = {PAGES: Pages, SIGHTINGS: Sightings, REJECTS: Rejects}
CORE_BATCH = 500  # files parsed and validated together: bounds memory, amortises Pandera's per-call cost


def ingest_files(
    paths: Paths, keys: list[str], options: ParseOptions | None = None
) -> dict[str, pa_arrow.Table]:
    """Read, decode, parse and validate a batch of landing files (a worker's unit of work): the batch's
    pages, sightings, rejects and files rows, keyed by the staging table they replace rows in. The bytes
    are read here, once; no copy of the text is kept. A file that vanished is skipped."""
    states, pages = [], []
    for key in keys:
        path = landing.path_of(paths.raw_dir, key)
        try:
            st = landing.stat_of(path, paths.raw_dir)
        except OSError:
            continue
        states.append((key, landing.landing_day(key, st.st_mtime_ns), st.st_size, st.st_mtime_ns))
        pages.append(read_raw(path, paths.raw_dir, options))
    tables = process_pages(pages, options)
    parsed = (tables.pages, tables.sightings, tables.rejects)
    rows = {t: to_arrow(df, model) for (t, model), df in zip(STAGED.items(), parsed, strict=True)}
    files = [dict(zip(FILES_SCHEMA.names, s, strict=True)) for s in states]
    return rows | {FILES: pa_arrow.Table.from_pylist(files, schema=FILES_SCHEMA)}


@dataclass
class Ingested:
    """What one ingestion run did: the files parsed and retracted (by name)."""

    parsed: list[str]
    retracted: list[str]


def ingest_days(
    paths: Paths,
    run_plan: RunPlan,
    days: set[str],
    changed_only: bool,
    options: ParseOptions | None = None,
    workers: int = 1,
    on_batch: Callable[[list[str], dict[str, pa_arrow.Table], int, int], None] | None = None,
) -> Ingested:
    """Ingest landing `days` of the run's plan under the writer lock (`RunPlan.day_files`: which files
    are parsed and which retracted), parsing in batches of CORE_BATCH over `workers` processes, each
    batch's rows replacing its files' in one commit.
    `on_batch(batch, tables, done, total)` sees each batch once written (progress, metadata)."""
    parse = functools.partial(ingest_files, paths, options=options)
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        drop_raw_copy(con)
        todo, gone = run_plan.day_files(ingested_state(con), days, changed_only)
        retract_staged(con, gone)
        done = 0
        for batch, tables in map_batches(parse, todo, CORE_BATCH, workers):
            write_parsed(con, batch, tables)
            done += len(batch)
            if on_batch is not None:
                on_batch(batch, tables, done, len(todo))
    return Ingested(todo, gone)


def write_parsed(con: Connection, keys: list[str], tables: dict[str, pa_arrow.Table]) -> None:
    """Replace the batch's files' rows in the staging tables, in one commit (a file that vanished since
    it was listed loses its rows, as a removed file does)."""
    with commit.transaction(con):
        for name, rows in tables.items():
            commit.ensure(con, name, rows.schema)
            commit.replace_in(con, name, rows, "source_file", keys)


def retract_staged(con: Connection, keys: list[str]) -> None:
    """Files gone from the landing folder leave staging (resolution then retracts them from main)."""
    if keys:
        schemas = {t: arrow_schema(model) for t, model in STAGED.items()} | {FILES: FILES_SCHEMA}
        write_parsed(con, keys, {t: schema.empty_table() for t, schema in schemas.items()})


def drop_raw_copy(con: Connection) -> None:
    """Lakes written before issue 12 kept a decoded copy of every file in staging.raw_pages: drop it."""
    if lake.table_exists(con, RAW):
        con.execute(f"DROP TABLE {RAW}")


@dataclass
class Resolved:
    """What a resolution changed (enrichment recomputes only these papers) and counts for metadata."""

    changed_papers: set[str]  # papers_core rows inserted or changed
    removed_papers: set[str]  # papers_core rows deleted
    retracted: list[str]  # files that left the landing folder
    counts: dict[str, int]  # papers, sightings, merged_pairs, title_only_rejected_pairs, and main tables


def resolve_all(
    paths: Paths, keys: list[str], rules: MatchRules | None = None, full: bool = False
) -> Resolved:
    """Retract the rows of files that are no longer in `keys`, resolve sightings into papers with stable
    ids (the registry is kept between runs) and write pages, rejects, sightings, matches and
    upvote_history to the lake's main tables. By default only the files whose staged page changed since
    the last resolution are resolved (`paperlake.resolve.engine` over their scope, same result); `full`
    re-resolves all."""
    rules = rules or MatchRules()
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        commit.upgrade(con, {t: arrow_schema(CONTRACT[n]) for n, t in scope.MAIN.items()})
        retracted = _retract_gone(con, keys)
        delta = _resolve(con, rules, full)
        counts = _counts(con)
    return Resolved(delta.changed_papers, delta.removed_papers, retracted, counts)


def _retract_gone(con: Connection, keys: list[str]) -> list[str]:
    """Staged files no longer in `keys` (removed from the landing folder) leave staging. Every staged
    file has a pages or files row, so reading their names finds them (not a scan of every table)."""
    names = sorted(lake.tables(con) & {PAGES, FILES})
    union = " UNION ".join(f"SELECT source_file FROM {t}" for t in names)
    staged = {r[0] for r in con.execute(union).fetchall()} if names else set()
    gone = sorted(staged - set(keys))
    retract_staged(con, gone)
    return gone


def _resolve(con: Connection, rules: MatchRules, full: bool) -> scope.Delta:
    if full or not scope.has_state(con):
        return _resolve_full(con, rules)
    files = scope.changed_files(con)
    if not files:
        return scope.Delta()
    try:
        delta = write.increment(con, engine.resolve(con, SIGHTINGS, rules, files), files)
    except scope.Fallback:
        return _resolve_full(con, rules)
    _write_files(con, files)  # last: a run killed before it resolves these files again
    return delta


def _resolve_full(con: Connection, rules: MatchRules) -> scope.Delta:
    """Every staged sighting resolved (`paperlake.resolve.engine`); staged pages and rejects copied."""
    _ensure_staged(con)
    res = engine.resolve(con, SIGHTINGS, rules)
    pages = mark_duplicate_pages(lake.read(con, PAGES, arrow_schema(Pages)))
    return write.full(con, res, {"pages": pages, "rejects": REJECTS})


def _ensure_staged(con: Connection) -> None:
    """The staging tables a full resolution reads, created empty from their contract when no file was
    ever ingested (an empty landing folder): nothing staged resolves to empty tables, not an error."""
    if missing := sorted(set(STAGED) - lake.tables(con)):
        with commit.transaction(con):
            for table in missing:
                commit.ensure(con, table, arrow_schema(STAGED[table]))


def _write_files(con: Connection, files: list[str]) -> None:
    """The changed files' pages (and every page with the same bytes, for duplicate_of) and rejects."""
    in_files = "source_file IN (SELECT unnest($f::VARCHAR[]))"
    union = (
        f"SELECT page_id FROM {PAGES} WHERE {in_files} UNION SELECT page_id FROM {lake.main_table('pages')}"
    )
    page_ids = con.execute(f"{union} WHERE {in_files}", {"f": files}).fetchall()
    same = {"f": files, "p": [r[0] for r in page_ids if r[0]]}
    where = f"{in_files} OR page_id IN (SELECT unnest($p::VARCHAR[]))"
    pages = mark_duplicate_pages(lake.read(con, PAGES, arrow_schema(Pages), f"WHERE {where}", same))
    rejects = lake.read(con, REJECTS, arrow_schema(Rejects), f"WHERE {in_files}", {"f": files})
    with commit.transaction(con):
        gone = sorted({*files, *pages["source_file"].to_pylist()})
        commit.replace_in(con, lake.main_table("pages"), pages, "source_file", gone)
        commit.replace_in(con, lake.main_table("rejects"), rejects, "source_file", files)


def _counts(con: Connection) -> dict[str, int]:
    """Row counts for the asset metadata, counted in SQL (one query)."""
    counted = {t: lake.main_table(t) for t in scope.MAIN} | {"papers": PAPERS_CORE}
    matches = lake.main_table("matches")
    counted["merged_pairs"] = f"{matches} WHERE merged"
    counted["title_only_rejected_pairs"] = f"{matches} WHERE rule = '{MatchRule.TITLE_ONLY_REJECTED}'"
    return row_counts(con, counted)


def mark_duplicate_pages(pages: pa_arrow.Table) -> pa_arrow.Table:
    """Same bytes under several names: the first name is the page, the others point at it."""
    first = pages.filter(pc.field("page_id") != "").group_by("page_id").aggregate([("source_file", "min")])
    canonical = pc.take(first["source_file_min"], pc.index_in(pages["page_id"], first["page_id"]))
    dup = pc.if_else(pc.equal(canonical, pages["source_file"]), None, canonical)
    i = pages.schema.get_field_index("duplicate_of")
    return pages.set_column(i, pages.schema.field(i), dup)


def publish_papers(
    paths: Paths, changed: set[str] | None = None, full: bool = False
) -> enrich_index.Published:
    """Enrich the resolved papers into papers, paper_links and paper_topics: only the papers whose
    papers_core row changed (all of `changed` when the caller knows them, else found by hash) and those
    their change touches, unless `full` or the stored text index is missing or stale
    (paperlake.enrich.index). Returns each table's rows as written and its row count."""
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        return enrich_index.publish(con, PAPERS_CORE, changed, full)


def read_staged(paths: Paths, table: str) -> pd.DataFrame:
    """A staging table (pages, sightings or rejects) with its model's types."""
    with lake.open_lake(paths, read_only=True) as con:
        return from_arrow(lake.read(con, table, arrow_schema(STAGED[table])), STAGED[table])


def read_main(paths: Paths, table: str) -> pd.DataFrame:
    """A main table as the warehouse steps last wrote it: what the audit examines before publishing."""
    with lake.open_lake(paths, read_only=True) as con:
        rows = lake.read(con, lake.main_table(table), arrow_schema(CONTRACT[table]))
    return from_arrow(rows, CONTRACT[table])


def publish(paths: Paths, run_id: str, full: bool = False) -> tuple[int, dict[str, int]]:
    """Make the audited state visible: the lake's current snapshot becomes a published version, and the
    serving file is brought to exactly that snapshot (the served file plus the changes since, or a full
    build) and swapped in. Returns (version, row counts).
    When no main table changed since the last published version, that version stays (no new one).
    `full` rebuilds the serving file from the snapshot instead (`paperlake run --full`)."""
    with lake.writer_lock(paths), lake.open_lake(paths) as con:
        if (last := state.served_and_unchanged(con, paths, ("main",))) is not None:  # it stays
            lake.settle(con, last)  # this run's staging commits are done with: the next run has nothing to do
            counts = scalar(con, f"SELECT row_counts FROM {lake.VERSIONS} WHERE version = $v", {"v": last})
            return last, json.loads(counts)
        version = lake.current_snapshot(con)
        counts = row_counts(con, {t: lake.main_table(t) for t in TABLES})
        if full:
            build_serving(paths, version, run_id)
        else:
            publish_serving(con, paths, version, run_id, counts)
        lake.record_version(con, version, run_id, counts)
    return version, counts
