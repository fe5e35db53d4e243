"""The serving file and plain exports: what readers open, always one published version of the lake.

`paperlake.duckdb` holds a native copy of every table at the published lake snapshot (fast point
lookups, no Parquet footers read per query), the full-text index, views and comments, and the version
it serves. It is built beside the old one and swapped in with os.replace, so a reader sees the old
version or the new one, never a mix.
"""

import os
import tempfile
from pathlib import Path

import pandas as pd

from paperlake import lake
from paperlake.config import TABLES, Paths
from paperlake.db import load, open_db, sql_str
from paperlake.frames import arrow_schema, columns, from_arrow
from schemas import CONTRACT

SORT_KEYS = {
    "pages": ["source_file"],
    "sightings": ["source_file", "position"],
    "papers": ["paper_id"],
    "rejects": ["source_file", "line_start", "position"],
    "matches": ["record_a", "record_b"],
    "upvote_history": ["paper_id", "page_date"],
    "paper_links": ["paper_id", "url"],
    "paper_topics": ["paper_id", "topic"],
}
SERVING_VERSION = "paperlake_version"


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


def _order(table: str) -> str:
    return ", ".join(f"{k} NULLS FIRST" for k in SORT_KEYS[table])


def build_serving(paths: Paths, version: int, run_id: str) -> Path:
    """Build paperlake.duckdb from lake snapshot `version` in a temp file, then swap it in."""
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in paths.out_dir.glob(".paperlake.*.duckdb*"):  # left by a killed run
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".paperlake.", suffix=".duckdb", dir=paths.out_dir)
    os.close(fd)
    os.unlink(tmp)  # duckdb wants to create the file itself
    try:
        con = open_db(tmp)
        try:
            lake.attach(con, paths, read_only=True, snapshot=version)
            for table in TABLES:
                model = CONTRACT[table]
                cols = ", ".join(columns(model))
                source = f"{lake.ALIAS}.main.{table}"
                con.execute(f"CREATE TABLE {table} AS SELECT {cols} FROM {source} ORDER BY {_order(table)}")
                con.execute(f"COMMENT ON TABLE {table} IS {sql_str((model.__doc__ or '').strip())}")
                for name, spec in columns(model).items():
                    con.execute(f"COMMENT ON COLUMN {table}.{name} IS {sql_str(spec['description'])}")
            con.execute("CREATE UNIQUE INDEX papers_paper_id ON papers (paper_id)")
            con.execute(
                f"CREATE TABLE {SERVING_VERSION} AS SELECT $v::BIGINT AS version, now() AS published_at, "
                "$r::VARCHAR AS run_id",
                {"v": version, "r": run_id},
            )
            con.execute(f"COMMENT ON TABLE {SERVING_VERSION} IS 'The lake version this file serves'")
            con.execute(f"DETACH {lake.ALIAS}")
            load(con, "fts")
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


def served_version(paths: Paths) -> int | None:
    """The lake version the serving file holds (None before the first publish)."""
    if not paths.duckdb_path.exists():
        return None
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        return int(con.execute(f"SELECT max(version) FROM {SERVING_VERSION}").fetchone()[0])


def read_table(table: str, paths: Paths) -> pd.DataFrame:
    """A published table (the serving file's copy) as a frame with the contract's types."""
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        arrow = con.execute(f"SELECT * FROM {table}").to_arrow_table()
    return from_arrow(arrow.cast(arrow_schema(CONTRACT[table])), CONTRACT[table])


def export(paths: Paths, folder: Path, version: int) -> dict[str, Path]:
    """Each table of published `version` as one plain Parquet file in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    with lake.open_lake(paths, read_only=True, snapshot=version) as con:
        for table in TABLES:
            target = folder / f"{table}.parquet"
            con.execute(
                f"COPY (SELECT * FROM {lake.ALIAS}.main.{table} ORDER BY {_order(table)}) "
                f"TO {sql_str(str(target))} (FORMAT parquet, COMPRESSION zstd)"
            )
            out[table] = target
    return out
