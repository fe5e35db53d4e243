"""Publish cost after one new file's worth of changes, incremental against a full build.

Usage: python bench/publish.py OUT [--check]
  OUT: a copy of a published output folder (e.g. `cp -r /path/to/out /tmp/x`); its lake is modified.
Writes into the lake's main tables what one new 57-entry file does to them (its page, sightings and
upvote history; its papers seen once more, a few of them re-worded; ten new papers with new words and
their topics and links; the related lists of 150 other papers; a few matches), publishes (incremental),
and prints the time with the SQL statements that took longest. --check then builds the same snapshot in
full and compares every table, the index and search results.
"""

import argparse
import time
from pathlib import Path

from paperlake import lake, pipeline, warehouse
from paperlake.config import Paths
from paperlake.db import open_db

M = f"{lake.ALIAS}.main"
FILE_CHANGES = f"""
CREATE TEMP TABLE f AS SELECT source_file FROM {M}.pages ORDER BY source_file LIMIT 1;
CREATE TEMP TABLE seen AS SELECT * FROM {M}.papers
    WHERE paper_id IN (SELECT paper_id FROM {M}.sightings WHERE source_file IN (FROM f));
CREATE TEMP TABLE other AS SELECT * FROM {M}.papers WHERE paper_id NOT IN (SELECT paper_id FROM seen)
    ORDER BY hash(paper_id) LIMIT 150;
CREATE TEMP TABLE twin AS SELECT * FROM {M}.papers WHERE paper_id NOT IN (SELECT paper_id FROM seen)
    AND paper_id NOT IN (SELECT paper_id FROM other) ORDER BY hash(paper_id) LIMIT 10;
INSERT INTO {M}.pages SELECT * REPLACE ('new_' || source_file AS source_file, md5(page_id) AS page_id)
    FROM {M}.pages WHERE source_file IN (FROM f);
INSERT INTO {M}.sightings
    SELECT * REPLACE ('new_' || source_file AS source_file, md5(sighting_id) AS sighting_id)
    FROM {M}.sightings WHERE source_file IN (FROM f);
INSERT INTO {M}.upvote_history
    SELECT * REPLACE ('new_' || source_file AS source_file, page_date + 1 AS page_date)
    FROM {M}.upvote_history WHERE source_file IN (FROM f);
INSERT INTO {M}.matches SELECT * REPLACE (md5(record_a) AS record_a) FROM {M}.matches
    ORDER BY record_a LIMIT 5;
DELETE FROM {M}.papers WHERE paper_id IN (SELECT paper_id FROM seen UNION ALL SELECT paper_id FROM other);
INSERT INTO {M}.papers SELECT * REPLACE (n_sightings + 1 AS n_sightings,
    CASE WHEN hash(paper_id) % 5 = 0 THEN abstract || ' revisited' ELSE abstract END AS abstract) FROM seen;
INSERT INTO {M}.papers SELECT * REPLACE (list_reverse(related) AS related) FROM other;
INSERT INTO {M}.papers SELECT * REPLACE ('p_new' || paper_id[6:] AS paper_id,
    'Quokkaformer ' || title AS title, abstract || ' quokkaformers zebrafication' AS abstract) FROM twin;
INSERT INTO {M}.paper_topics SELECT * REPLACE ('p_new' || paper_id[6:] AS paper_id) FROM {M}.paper_topics
    WHERE paper_id IN (SELECT paper_id FROM twin);
INSERT INTO {M}.paper_links SELECT * REPLACE ('p_new' || paper_id[6:] AS paper_id) FROM {M}.paper_links
    WHERE paper_id IN (SELECT paper_id FROM twin);
"""


CALLS: list[tuple[float, str]] = []


class Traced:
    """A connection whose execute() records each statement's time in CALLS."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *params):
        t = time.perf_counter()
        res = self._con.execute(sql, *params)
        CALLS.append((time.perf_counter() - t, " ".join(sql.split())[:100]))
        return res

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._con.close()


def write_one_file(paths: Paths) -> None:
    with lake.open_lake(paths) as con:
        con.execute("BEGIN")
        for stmt in filter(str.strip, FILE_CHANGES.split(";")):
            con.execute(stmt)
        con.execute("COMMIT")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    paths = Paths(args.out / "raw", args.out)
    write_one_file(paths)
    real = warehouse.open_db
    warehouse.open_db = lambda *a, **k: Traced(real(*a, **k))
    t = time.perf_counter()
    version, _ = pipeline.publish(paths, "bench")
    took = time.perf_counter() - t
    warehouse.open_db = real
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        built = con.sql(f"SELECT built FROM {warehouse.SERVING_VERSION}").fetchone()[0]
    print(
        f"publish {version}: {took:.2f} s ({built}); SQL of the serving file {sum(c for c, _ in CALLS):.2f} s"
    )
    for seconds, sql in sorted(CALLS, reverse=True)[:12]:
        print(f"  {seconds:6.3f} s  {sql}")


if __name__ == "__main__":
    main()
