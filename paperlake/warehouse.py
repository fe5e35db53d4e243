"""Parquet tables and the DuckDB file: atomic writes, per-file slices, views with comments.

Layout under the output root:
  staging/<stage>/<slice>.arrow    per-partition intermediate slices (one Arrow IPC file per raw file)
  warehouse/<table>/data.parquet   the contract tables, replaced atomically (or under PAPERLAKE_WAREHOUSE_URI,
                                   any fsspec filesystem: object stores publish one PUT atomically)
  paperlake.duckdb                 one view per table, rebuilt into a temp file and swapped in
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

import duckdb
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from paperlake.config import TABLES, Paths
from paperlake.db import fts_extension_path, register_warehouse, sql_str
from paperlake.frames import arrow_schema, columns, from_arrow, to_arrow
from schemas import CONTRACT

TABLE_FILE = "data.parquet"
SLICE_SUFFIX = ".arrow"


def slice_name(key: str) -> str:
    """Partition key (a path relative to the raw folder) → a flat, reversible file name."""
    return quote(key, safe="") + SLICE_SUFFIX


def key_of(slice_path: Path) -> str:
    return unquote(slice_path.name.removesuffix(SLICE_SUFFIX))


def write_parquet_atomic(table: pa_arrow.Table, path: Path, durable: bool = True) -> None:
    """Write beside the target, fsync (when `durable`), then os.replace: readers see the old file or the
    new one. Staging slices skip the fsync: they are re-derivable, and one fsync per file per stage
    dominated ingestion time. A non-local path (UPath) is written in one go: an object store makes an
    object visible only when its upload completes, which is the same guarantee."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(path, Path):
        with path.open("wb") as fh:
            pq.write_table(table, fh, compression="zstd")
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_frame(df: pd.DataFrame, model: type[pa.DataFrameModel], path: Path, durable: bool = True) -> None:
    write_parquet_atomic(to_arrow(df, model), path, durable)


def write_slice(table: pa_arrow.Table, folder: Path, key: str) -> Path:
    """One partition's slice as an uncompressed Arrow IPC file, replaced atomically (no fsync: slices are
    re-derivable). Measured per small slice: 0.08 ms to write and 0.3 ms to read, against 1.7 and 2.0 ms
    for zstd Parquet; at 10,000 files and 4 stages that difference was most of ingestion."""
    path = folder / slice_name(key)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        with pa_arrow.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_slices(table: pa_arrow.Table, folder: Path, keys: list[str], column: str = "source_file") -> None:
    """Split a batch's table by `column` and write every key's slice; a key with no rows gets an empty
    slice, so a re-run replaces whatever that file had before."""
    values = table.column(column).to_numpy(zero_copy_only=False)
    by_key = pd.Series(range(table.num_rows)).groupby(values).indices
    for key in keys:
        idx = by_key.get(key)
        write_slice(table.take(idx) if idx is not None else table.schema.empty_table(), folder, key)


def read_slice_tables(folder: Path, schema: pa_arrow.Schema, keys: list[str] | None = None) -> pa_arrow.Table:
    """Concatenate the slices in a folder (all of them, or those of `keys`), memory-mapped."""
    files = sorted(folder.glob("*" + SLICE_SUFFIX)) if folder.exists() else []
    if keys is not None:
        wanted = set(keys)
        files = [f for f in files if key_of(f) in wanted]
    if not files:
        return schema.empty_table()
    tables = [ipc.open_file(pa_arrow.memory_map(str(f))).read_all() for f in files]
    return pa_arrow.concat_tables(tables).cast(schema)


def read_slices(folder: Path, model: type[pa.DataFrameModel], keys: list[str] | None = None) -> pd.DataFrame:
    """The slices of a staging folder as one frame with the model's types."""
    return from_arrow(read_slice_tables(folder, arrow_schema(model), keys), model)


def remove_slices(folder: Path, keep: set[str]) -> list[str]:
    """Delete slices whose key is not in `keep` (files no longer in the landing folder)."""
    removed = []
    for f in folder.glob("*" + SLICE_SUFFIX) if folder.exists() else []:
        if key_of(f) not in keep:
            f.unlink()
            removed.append(key_of(f))
    return removed


def write_table(df: pd.DataFrame, table: str, paths: Paths) -> Path:
    path = paths.table_dir(table) / TABLE_FILE
    write_frame(df, CONTRACT[table], path)
    return path


def read_table(table: str, paths: Paths) -> pd.DataFrame:
    path, schema = paths.table_dir(table) / TABLE_FILE, arrow_schema(CONTRACT[table])
    if isinstance(path, Path):
        return from_arrow(pq.read_table(path, schema=schema), CONTRACT[table])
    with path.open("rb") as fh:
        return from_arrow(pq.read_table(fh, schema=schema), CONTRACT[table])


CONVENIENCE_VIEWS = [
    ("papers_with_code", "Papers with at least one GitHub repository", "SELECT * FROM papers WHERE has_code"),
    (
        "top_papers",
        "Papers ranked by highest upvotes, then by how often they were seen",
        """SELECT paper_id, coalesce(short_name, title) AS name, title, upvotes_max, upvotes, n_sightings,
                  has_code, topics, first_seen, last_seen
           FROM papers ORDER BY upvotes_max DESC NULLS LAST, n_sightings DESC, title""",
    ),
    (
        "topic_trends",
        "Papers per topic and month (publication month, else the month first seen)",
        """SELECT date_trunc('month', coalesce(published_date, first_seen))::DATE AS month, topic,
                  count(*) AS papers
           FROM papers, unnest(topics) AS t(topic)
           WHERE coalesce(published_date, first_seen) IS NOT NULL
           GROUP BY ALL ORDER BY month, papers DESC, topic""",
    ),
]


def build_duckdb(paths: Paths) -> Path:
    """Build paperlake.duckdb in a temp file (views, comments, full-text index) and swap it in."""
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".paperlake.", suffix=".duckdb", dir=paths.out_dir)
    os.close(fd)
    os.unlink(tmp)  # duckdb wants to create the file itself
    try:
        con = duckdb.connect(tmp)
        try:
            register_warehouse(con, paths)
            for table in TABLES:
                model = CONTRACT[table]
                src = paths.table_dir(table) / TABLE_FILE
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({sql_str(str(src))})")
                con.execute(f"COMMENT ON VIEW {table} IS {sql_str((model.__doc__ or '').strip())}")
                for name, spec in columns(model).items():
                    con.execute(f"COMMENT ON COLUMN {table}.{name} IS {sql_str(spec['description'])}")
            con.execute(f"LOAD {sql_str(str(fts_extension_path()))}")
            con.execute("CREATE TABLE papers_text AS SELECT paper_id, title, abstract FROM papers")
            con.execute(
                "PRAGMA create_fts_index('papers_text', 'paper_id', 'title', 'abstract', overwrite=1)"
            )
            con.execute("""
                CREATE MACRO search_papers(q) AS TABLE
                SELECT p.*, s.score FROM (
                    SELECT paper_id, fts_main_papers_text.match_bm25(paper_id, q) AS score FROM papers_text
                ) s JOIN papers p USING (paper_id)
                WHERE s.score IS NOT NULL ORDER BY s.score DESC
            """)
            for name, comment, sql in CONVENIENCE_VIEWS:
                con.execute(f"CREATE VIEW {name} AS {sql}")
                con.execute(f"COMMENT ON VIEW {name} IS {sql_str(comment)}")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, paths.duckdb_path)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            Path(leftover).unlink(missing_ok=True)
    return paths.duckdb_path
