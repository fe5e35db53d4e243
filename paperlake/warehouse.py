"""The serving file and plain exports: what readers open, always one published version of the lake.

`paperlake.duckdb` holds a native copy of every table at the published lake snapshot (fast point
lookups, no Parquet footers read per query), the full-text index, views and comments, and the version
it serves. It is built beside the old one and swapped in with os.replace, so a reader sees the old
version or the new one, never a mix.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd

from paperlake import changes, fulltext, lake
from paperlake.config import Paths
from paperlake.duck import Connection, load, open_db, row_counts, scalar, single_row, sql_str
from paperlake.frames import arrow_schema, columns, from_arrow
from schemas import CONTRACT
from schemas.catalog import CATALOG, TABLES

SERVING_VERSION = "paperlake_version"
# An increment leaves the rows it deletes in their row groups: over many runs the file grows with the same
# data (4.5 -> 18 MB on the sample over 12 remove-and-restore runs). Past this many times the blocks a
# fresh build of as many rows takes, the file is built fresh instead: its size stays bounded. One
# increment on the sample alone can take it to 1.8x (block granularity), hence not lower.
COMPACT_AT = 2.0
COMPACT_SLACK = 8  # blocks (2 MiB): a small file's few increments stay increments
PAPERS_INDEX = "papers_paper_id"
PAPERS_INDEX_SQL = f"CREATE UNIQUE INDEX {PAPERS_INDEX} ON papers (paper_id)"
# Sightings are stored in paper order: a paper's abstract, repeated in each of its sightings, then
# compresses (sightings 476 → 180 MB at 10,000 files: less to copy at each publish).
STORED_ORDER = {"sightings": "paper_id, source_file, position"}
_COPY = "serving_copy"  # the copy being brought forward, attached to the lake's connection


CONVENIENCE_VIEWS = """
CREATE VIEW papers_with_code AS SELECT * FROM papers WHERE has_code;
COMMENT ON VIEW papers_with_code IS 'Papers with at least one GitHub repository';
CREATE VIEW top_papers AS
    SELECT paper_id, coalesce(short_name, title) AS name, title, upvotes_max, upvotes, n_sightings,
           has_code, topics, first_seen, last_seen
    FROM papers ORDER BY upvotes_max DESC NULLS LAST, n_sightings DESC, title;
COMMENT ON VIEW top_papers IS 'Papers ranked by highest upvotes, then by how often they were seen';
CREATE VIEW topic_trends AS
    SELECT date_trunc('month', coalesce(published_date, first_seen))::DATE AS month, topic,
           count(*) AS papers
    FROM papers, unnest(topics) AS t(topic)
    WHERE coalesce(published_date, first_seen) IS NOT NULL
    GROUP BY ALL ORDER BY month, papers DESC, topic;
COMMENT ON VIEW topic_trends IS 'Papers per topic and month (publication month, else the month first seen)';
"""


def _order(table: str) -> str:
    return ", ".join(f"{k} NULLS FIRST" for k in CATALOG[table].key)


def publish_serving(con: Connection, paths: Paths, version: int, run_id: str, counts: dict[str, int]) -> str:
    """Bring paperlake.duckdb to lake snapshot `version`, the current one of the lake attached to `con`
    (its tables hold `counts` rows): a copy of the served file plus the changes since its version when
    DuckLake's change feed can say what they are, else a full build; either is swapped in whole.
    Returns how it was built ('incremental from N', or 'full: ' and why)."""
    with _swap(paths) as tmp:
        built = "full: nothing served yet"
        try:
            since = served_version(paths)
        except duckdb.Error:  # no readable serving file to start from
            since = None
        if since is not None:
            shutil.copyfile(paths.duckdb_path, tmp)
            try:
                built = _update(con, tmp, since, version, run_id, counts)
            except duckdb.Error as exc:
                built = f"full: the increment from {since} failed ({exc})"
        if not built.startswith("incremental"):
            Path(tmp).unlink(missing_ok=True)
            _build(tmp, paths, version, run_id, built)
    return built


def build_serving(paths: Paths, version: int, run_id: str) -> Path:
    """Build paperlake.duckdb from lake snapshot `version` in full, then swap it in."""
    with _swap(paths) as tmp:
        _build(tmp, paths, version, run_id, "full")
    return paths.duckdb_path


@contextlib.contextmanager
def _swap(paths: Paths) -> Iterator[str]:
    """A temp file beside the serving file, moved over it (os.replace: readers see the old file or the
    new one, never a mix) when the block succeeds, removed when it fails."""
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in paths.out_dir.glob(".paperlake.*.duckdb*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".paperlake.", suffix=".duckdb", dir=paths.out_dir)
    os.close(fd)
    os.unlink(tmp)  # duckdb wants to create the file itself
    try:
        yield tmp
        os.replace(tmp, paths.duckdb_path)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            Path(leftover).unlink(missing_ok=True)


def _build(tmp: str, paths: Paths, version: int, run_id: str, built: str) -> None:
    con = open_db(tmp)
    try:
        lake.attach(con, paths, read_only=True, snapshot=version)
        selects = {t: f"SELECT {', '.join(columns(CONTRACT[t]))} FROM {lake.main_table(t)}" for t in TABLES}
        for table, select in selects.items():
            model = CONTRACT[table]
            con.execute(f"CREATE TABLE {table} AS {select} LIMIT 0")
            con.execute(f"COMMENT ON TABLE {table} IS {sql_str((model.__doc__ or '').strip())}")
            for name, spec in columns(model).items():
                con.execute(f"COMMENT ON COLUMN {table}.{name} IS {sql_str(spec['description'])}")
        load(con, "fts")
        fulltext.define(con)  # on the empty papers: the extension would tokenize every paper, slowly
        _fill(con, "papers", selects.pop("papers"))
        # tokenizing runs on one core: the copies use the other
        with con.cursor() as cursor, ThreadPoolExecutor(1) as pool:
            index = pool.submit(fulltext.index_all, cursor)
            try:
                for table, select in selects.items():
                    _fill(con, table, select)
            except BaseException:  # Ctrl-C, or a failed copy: stop the index too, do not wait for it
                cursor.interrupt()
                raise
            index.result()
        con.execute(PAPERS_INDEX_SQL)
        con.execute(f"DETACH {lake.ALIAS}")
        con.execute(
            f"CREATE TABLE {SERVING_VERSION} (version BIGINT, published_at TIMESTAMP WITH TIME ZONE, "
            "run_id VARCHAR, built VARCHAR, fresh_blocks BIGINT, fresh_rows BIGINT)"
        )
        comment = "The lake version this file serves, how it was built, and a fresh build's footprint"
        con.execute(f"COMMENT ON TABLE {SERVING_VERSION} IS {sql_str(comment)}")
        con.execute(CONVENIENCE_VIEWS)
        con.execute("CHECKPOINT")
        fresh = (_blocks(con), sum(row_counts(con, {t: t for t in TABLES}).values()))
        _stamp(con, version, run_id, built, fresh)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _fill(con: Connection, table: str, select: str) -> None:
    con.execute(f"INSERT INTO {table} {select} ORDER BY {STORED_ORDER.get(table) or _order(table)}")


def _stamp(con: Connection, version: int, run_id: str, built: str, fresh: tuple[int, int]) -> None:
    """The one row of SERVING_VERSION; `fresh`: the blocks and rows of the last fresh build (COMPACT_AT)."""
    con.execute(f"DELETE FROM {SERVING_VERSION}")
    stamp = {"v": version, "r": run_id, "b": built, "fb": fresh[0], "fr": fresh[1]}
    con.execute(f"INSERT INTO {SERVING_VERSION} VALUES ($v, now(), $r, $b, $fb, $fr)", stamp)


def _blocks(con: Connection) -> int:
    """The blocks of the current database's file (after a checkpoint: what is on disk)."""
    sql = "SELECT total_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    return int(scalar(con, sql))


def _fresh(con: Connection) -> tuple[int, int]:
    """The blocks and rows of the served file's last fresh build."""
    blocks, rows = single_row(con, f"SELECT fresh_blocks, fresh_rows FROM {SERVING_VERSION}")
    return int(blocks), int(rows)


def _bloated(con: Connection, rows: int) -> str | None:
    """Why the served copy should be built fresh instead (COMPACT_AT), or None."""
    fresh_blocks, fresh_rows = _fresh(con)
    # grown data takes more blocks; shrunk data is not expected to give any back (fixed costs dominate)
    expected = fresh_blocks * max(1.0, rows / fresh_rows if fresh_rows else 1.0)
    if (blocks := _blocks(con)) > COMPACT_AT * expected + COMPACT_SLACK:
        return f"full: compacted ({blocks} blocks of 256 KiB; a fresh build takes about {expected:.0f})"
    return None


def _update(con: Connection, tmp: str, since: int, until: int, run_id: str, counts: dict[str, int]) -> str:
    """Apply the lake's changes from snapshot `since` to `until` to `tmp`, a copy of the served file,
    attached to `con` (which has the lake and its extensions loaded: no second start-up).
    Returns 'incremental from <since>', or why it could not (the copy is then left half-done)."""
    con.execute(f"ATTACH {sql_str(tmp)} AS {_COPY}")
    con.execute(f"USE {_COPY}")
    try:
        if not _current_layout(con):
            return "full: the served file has an older layout"
        feed = changes.feed(con, since, until)
        if feed is None:
            return f"full: snapshot {since} expired or a table's schema changed"
        con.execute("SET index_scan_percentage = 1")  # the changed papers' old text: by index
        con.execute("SET threads = 1")  # small work: a second thread costs more than it brings
        for table in feed.tables:
            keys, cols = CATALOG[table].key, list(columns(CONTRACT[table]))
            changes.net_rows(con, feed, table, keys, cols)
            if table == "papers":
                fulltext.update(con, [r[0] for r in con.execute("SELECT paper_id FROM _gone").fetchall()])
                con.execute(f"DROP INDEX {PAPERS_INDEX}")  # rebuilt: kept, it makes the checkpoint take 5 s
            if not changes.apply(con, table, keys):
                return f"full: some rows of {table} changed under an unchanged key"
            if table == "papers":
                con.execute(PAPERS_INDEX_SQL)
        have = row_counts(con, {t: t for t in TABLES})
        if have != counts:  # a safety net: never serve an increment that does not add up
            return f"full: the increment from {since} gave {have}, the lake has {counts}"
        con.execute(f"CHECKPOINT {_COPY}")
        if bloated := _bloated(con, sum(have.values())):
            return bloated
        _stamp(con, until, run_id, f"incremental from {since}", _fresh(con))
        con.execute(f"CHECKPOINT {_COPY}")
    finally:
        con.execute(f"RESET index_scan_percentage; RESET threads; USE memory; DETACH {_COPY}")
    return f"incremental from {since}"


def _current_layout(con: Connection) -> bool:
    """Whether the served file has this paperlake's tables and columns (else it is rebuilt in full)."""
    want = {t: list(columns(CONTRACT[t])) for t in TABLES}
    want[SERVING_VERSION] = ["version", "published_at", "run_id", "built", "fresh_blocks", "fresh_rows"]
    want[f"{fulltext.FTS}.docs"] = ["docid", "name", "len"]
    try:
        return all(
            [r[1] for r in con.execute(f"PRAGMA table_info('{_COPY}.{t}')").fetchall()] == list(cols)
            for t, cols in want.items()
        )
    except duckdb.CatalogException:
        return False


def served_version(paths: Paths) -> int | None:
    """The lake version the serving file holds (None before the first publish)."""
    if not paths.duckdb_path.exists():
        return None
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        return int(scalar(con, f"SELECT max(version) FROM {SERVING_VERSION}"))


def read_table(table: str, paths: Paths) -> pd.DataFrame:
    """A published table (the serving file's copy) in key order, as a frame with the contract's types."""
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        arrow = con.execute(f"SELECT * FROM {table} ORDER BY {_order(table)}").to_arrow_table()
    return from_arrow(arrow.cast(arrow_schema(CONTRACT[table])), CONTRACT[table])


def export(paths: Paths, folder: Path, version: int) -> dict[str, Path]:
    """Each table of published `version` as one plain Parquet file in `folder`, each written whole or not
    at all: to a hidden temporary file beside it, then renamed over the target (a reader of the folder, or
    a stopped export, never leaves half a file under a table's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    with lake.open_lake(paths, read_only=True, snapshot=version) as con:
        for table in TABLES:
            target = folder / f"{table}.parquet"
            partial = folder / f".{table}.parquet.{os.getpid()}.partial"
            try:
                con.execute(
                    f"COPY (SELECT * FROM {lake.main_table(table)} ORDER BY {_order(table)}) "
                    f"TO {sql_str(str(partial))} (FORMAT parquet, COMPRESSION zstd)"
                )
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            out[table] = target
    return out
