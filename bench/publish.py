"""Publish cost after one new file's worth of changes: incremental, against a full build.

Usage: python bench/publish.py OUT [--profile] [--check]
  OUT: a copy of a published output folder (`cp -r <out> /tmp/x`); its lake is modified, and each run
  adds another file's worth of changes.
Writes into the lake's main tables what one new 57-entry file does to them (its page, sightings and
upvote history; its papers seen once more, a fifth of them re-worded; ten new papers with new words and
their topics and links; the related lists of 150 other papers; five matches), publishes (incremental),
and prints wall and CPU time, the copy, and the slowest SQL statements. --profile adds cProfile's top
functions; --check builds the same snapshot in full and compares every table, the BM25 index and the
results of 40 searches.
"""

import argparse
import cProfile
import pstats
import shutil
import time
from pathlib import Path

from paperlake import fulltext, lake, steps, warehouse
from paperlake.config import Paths
from paperlake.duck import load, open_db
from schemas.catalog import TABLES

M = f"{lake.ALIAS}.main"
FILE_CHANGES = """
CREATE TEMP TABLE f AS SELECT source_file FROM {M}.pages WHERE source_file NOT LIKE 'n%'
    ORDER BY hash(source_file || '{tag}') LIMIT 1;
CREATE TEMP TABLE seen AS SELECT * FROM {M}.papers
    WHERE paper_id IN (SELECT paper_id FROM {M}.sightings WHERE source_file IN (FROM f));
CREATE TEMP TABLE other AS SELECT *, row_number() OVER (ORDER BY hash(paper_id || '{tag}')) AS k
    FROM {M}.papers WHERE paper_id NOT IN (SELECT paper_id FROM seen) QUALIFY k <= 160;
CREATE TEMP TABLE related AS SELECT * EXCLUDE (k) FROM other WHERE k <= 150;
CREATE TEMP TABLE twin AS SELECT * EXCLUDE (k) FROM other WHERE k > 150;
INSERT INTO {M}.pages
    SELECT * REPLACE ('n{tag}_' || source_file AS source_file, md5(page_id || '{tag}') AS page_id)
    FROM {M}.pages WHERE source_file IN (FROM f);
INSERT INTO {M}.sightings
    SELECT * REPLACE ('n{tag}_' || source_file AS source_file, md5(sighting_id || '{tag}') AS sighting_id)
    FROM {M}.sightings WHERE source_file IN (FROM f);
INSERT INTO {M}.upvote_history SELECT * REPLACE ('n{tag}_' || source_file AS source_file)
    FROM {M}.upvote_history WHERE source_file IN (FROM f);
INSERT INTO {M}.matches SELECT * REPLACE (md5(record_a || '{tag}') AS record_a) FROM {M}.matches
    ORDER BY hash(record_a || '{tag}') LIMIT 5;
DELETE FROM {M}.papers WHERE paper_id IN (SELECT paper_id FROM seen UNION ALL SELECT paper_id FROM related);
INSERT INTO {M}.papers SELECT * REPLACE (n_sightings + 1 AS n_sightings,
    CASE WHEN hash(paper_id) % 5 = 0 THEN abstract || ' revisited' ELSE abstract END AS abstract) FROM seen;
INSERT INTO {M}.papers SELECT * REPLACE (list_reverse(related) AS related) FROM related;
INSERT INTO {M}.papers SELECT * REPLACE ('p_n{tag}_' || paper_id[3:] AS paper_id,
    'Quokkaformer{tag} ' || title AS title, abstract || ' quokkaformers zebrafication' AS abstract) FROM twin;
INSERT INTO {M}.paper_topics SELECT * REPLACE ('p_n{tag}_' || paper_id[3:] AS paper_id) FROM {M}.paper_topics
    WHERE paper_id IN (SELECT paper_id FROM twin);
INSERT INTO {M}.paper_links SELECT * REPLACE ('p_n{tag}_' || paper_id[3:] AS paper_id) FROM {M}.paper_links
    WHERE paper_id IN (SELECT paper_id FROM twin)
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
        tag = lake.current_snapshot(con)
        con.execute("BEGIN")
        for stmt in FILE_CHANGES.format(M=M, tag=tag).split(";"):
            con.execute(stmt)
        con.execute("COMMIT")


def timed_publish(paths: Paths, profile: bool) -> int:
    real_open, real_copy, real_serving = lake.open_db, shutil.copyfile, steps.publish_serving
    copied: list[float] = []
    serving: list[float] = []

    def publish_serving(*a, **k):
        t = time.perf_counter()
        built = real_serving(*a, **k)
        serving.append(time.perf_counter() - t)
        return built

    def copy(*a, **k):
        t = time.perf_counter()
        real_copy(*a, **k)
        copied.append(time.perf_counter() - t)

    lake.open_db = lambda *a, **k: Traced(real_open(*a, **k))
    shutil.copyfile, steps.publish_serving = copy, publish_serving
    prof = cProfile.Profile() if profile else None
    t, c = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    version, _ = steps.publish(paths, "bench")
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    lake.open_db, shutil.copyfile, steps.publish_serving = real_open, real_copy, real_serving
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        built = con.sql(f"SELECT built FROM {warehouse.SERVING_VERSION}").fetchone()[0]
    size = paths.duckdb_path.stat().st_size / 1e6
    print(f"publish {version}: {wall:.2f} s wall, {cpu:.2f} s CPU ({built}); serving file {size:.0f} MB")
    print(f"  of which the serving file {sum(serving):.2f} s (copy {sum(copied):.2f} s); slowest statements:")
    for seconds, sql in sorted(CALLS, reverse=True)[:12]:
        print(f"  {seconds:6.3f} s  {sql}")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)
    return version


def check(paths: Paths, version: int) -> None:
    """The incrementally published file against a full build of the same snapshot."""
    full = Paths(paths.raw_dir, paths.out_dir / f"_full_{version}")
    full.out_dir.mkdir()
    (full.out_dir / "lake").symlink_to(paths.lake_dir)
    t = time.perf_counter()
    warehouse.build_serving(full, version, "check")
    print(f"full build_serving of the same snapshot: {time.perf_counter() - t:.1f} s")
    fts = fulltext.FTS
    index = [
        f"""SELECT d.name, f.field, dict.term FROM {{db}}{fts}.terms t JOIN {{db}}{fts}.docs d USING (docid)
            JOIN {{db}}{fts}.dict dict USING (termid) JOIN {{db}}{fts}.fields f USING (fieldid)""",
        f"SELECT name, len FROM {{db}}{fts}.docs",
        f"SELECT term, df FROM {{db}}{fts}.dict",
        f"SELECT * FROM {{db}}{fts}.stats",
    ]
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        con.execute(f"ATTACH '{full.duckdb_path}' AS ref (READ_ONLY)")
        pairs = [(f"FROM {t}", f"FROM ref.{t}") for t in TABLES]
        pairs += [(q.format(db=""), q.format(db="ref.")) for q in index]
        for a, b in pairs:
            diff = [
                con.sql(f"SELECT count(*) FROM ({x} EXCEPT ALL {y})").fetchone()[0]
                for x, y in ((a, b), (b, a))
            ]
            assert diff == [0, 0], (a, diff)
        titles = [
            t for (t,) in con.sql("SELECT title FROM papers ORDER BY hash(paper_id) LIMIT 36").fetchall()
        ]
    queries = ["reasoning", "hallucination", "quokkaformers", "revisited", *titles]
    hits = [_search(p.duckdb_path, queries) for p in (paths, full)]
    assert hits[0] == hits[1]
    print(f"equal: {len(TABLES)} tables, the index, {len(queries)} searches ({sum(map(len, hits[0]))} hits)")


def _search(db: Path, queries: list[str]) -> list[list[tuple]]:
    with open_db(str(db), read_only=True) as con:
        load(con, "fts")
        sql = "SELECT -round(score, 9), paper_id FROM search_papers($q) ORDER BY ALL"
        return [con.execute(sql, {"q": q}).fetchall() for q in queries]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    paths = Paths(args.out / "raw", args.out)
    write_one_file(paths)
    version = timed_publish(paths, args.profile)
    if args.check:
        check(paths, version)


if __name__ == "__main__":
    main()
