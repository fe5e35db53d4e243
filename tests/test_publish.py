"""Incremental publishing: the serving file brought forward by the lake's changes equals a full build.

* After adding, changing and removing a file (and a maintenance pass in between), the incrementally
  published paperlake.duckdb holds the same rows in every table, the same BM25 index (per paper and
  field, the same terms; the same document frequencies and statistics) and the same search results as a
  full build of the same lake snapshot, and says which version it serves.
* When the change feed cannot say what changed (the served snapshot expired, an older file layout), the
  file is built in full.
* A publish killed half-way leaves the previous file in place (and its searches), and the next one
  brings it forward.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from paperlake import fulltext, lake, steps
from paperlake.config import Paths
from paperlake.duck import load, open_db
from paperlake.warehouse import COMPACT_AT, COMPACT_SLACK, SERVING_VERSION, build_serving
from schemas.catalog import TABLES
from tests.helpers import ROOT, SAMPLE, write_run

pytestmark = pytest.mark.slow
FTS = fulltext.FTS
M = f"{lake.ALIAS}.main"
# the index as content, independent of the arbitrary doc and term ids it carries
INDEX = {
    "terms": f"""SELECT d.name, f.field, dict.term FROM {{db}}{FTS}.terms t
                 JOIN {{db}}{FTS}.docs d USING (docid) JOIN {{db}}{FTS}.dict dict USING (termid)
                 JOIN {{db}}{FTS}.fields f USING (fieldid)""",
    "docs": f"SELECT name, len FROM {{db}}{FTS}.docs",
    "dict": f"SELECT term, df FROM {{db}}{FTS}.dict",
    "stats": f"SELECT * FROM {{db}}{FTS}.stats",
}
FIXED_QUERIES = ["reasoning", "hallucination", "language model agents", "diffusion video generation"]


@pytest.fixture
def published(tmp_path: Path) -> Paths:
    """Four of the sample's five files ingested and published (a full build)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for src in sorted(SAMPLE.iterdir())[:4]:
        shutil.copy(src, raw / src.name)
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    steps.publish(paths, "first")
    return paths


def _served(paths: Paths) -> tuple[int, str, str]:
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        return con.execute(f"SELECT version, run_id, built FROM {SERVING_VERSION}").fetchone()


def _full_build(paths: Paths, version: int, where: Path) -> Path:
    """A full build of lake snapshot `version` into `where` (its lake folder links to the real one)."""
    where.mkdir()
    (where / "lake").symlink_to(paths.lake_dir)
    full = Paths(paths.raw_dir, where)
    build_serving(full, version, "reference")
    return full.duckdb_path


def _search(db: Path, queries: list[str]) -> dict[str, list[tuple]]:
    """Each query's hits as (score, paper_id), best first (ties by id; scores to 9 decimals, as the
    order in which a paper's term scores are summed may differ in the last bits)."""
    with open_db(str(db), read_only=True) as con:
        load(con, "fts")
        return {
            q: sorted(
                (-round(score, 9), paper_id)
                for paper_id, score in con.execute(
                    "SELECT paper_id, score FROM search_papers($q)", {"q": q}
                ).fetchall()
            )
            for q in queries
        }


def _assert_equals_full_build(paths: Paths, version: int, where: Path) -> None:
    reference = _full_build(paths, version, where)
    with open_db(str(paths.duckdb_path), read_only=True) as con:
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")
        for t in TABLES:
            counts = con.sql(f"SELECT (SELECT count(*) FROM {t}), (SELECT count(*) FROM ref.{t})").fetchone()
            extra = con.sql(f"SELECT count(*) FROM (FROM {t} EXCEPT ALL FROM ref.{t})").fetchone()[0]
            missing = con.sql(f"SELECT count(*) FROM (FROM ref.{t} EXCEPT ALL FROM {t})").fetchone()[0]
            assert counts[0] == counts[1] and extra == missing == 0, (t, counts, extra, missing)
        for part, sql in INDEX.items():
            mine, full = sql.format(db=""), sql.format(db="ref.")
            assert con.sql(f"SELECT count(*) FROM ({mine} EXCEPT ALL {full})").fetchone()[0] == 0, part
            assert con.sql(f"SELECT count(*) FROM ({full} EXCEPT ALL {mine})").fetchone()[0] == 0, part
        titles = [t for (t,) in con.sql("SELECT title FROM papers ORDER BY paper_id").fetchall()[::25] if t]
    queries = FIXED_QUERIES + titles  # every title word of one paper in 25, and fixed ones
    mine = _search(paths.duckdb_path, queries)
    assert mine == _search(reference, queries)
    assert sum(len(hits) for hits in mine.values()) > 100


def _publish(paths: Paths, run_id: str) -> int:
    version, _ = steps.publish(paths, run_id)
    assert _served(paths)[:2] == (version, run_id)
    return version


def _add(paths: Paths) -> list[str]:
    new = sorted(SAMPLE.iterdir())[4]  # new papers, new words
    shutil.copy(new, paths.raw_dir / new.name)
    return [new.name]


def _change(paths: Paths) -> list[str]:
    changed = paths.raw_dir / "002_e8016f024cf684e5.txt"  # abstracts' words replaced
    changed.write_text(changed.read_text(encoding="utf-8").replace(" model", " modell"), encoding="utf-8")
    return [changed.name]


def _remove(paths: Paths) -> list[str]:
    (paths.raw_dir / "001_0e521db46ed8cd94.txt").unlink()
    return []


def _remove_after_maintenance(paths: Paths) -> list[str]:
    lake.maintain(paths, keep_days=0)  # expires the snapshots since the served one, merges files
    (paths.raw_dir / "003_d2538b47dc31753c.txt").unlink()
    return []


def test_incremental_publish_equals_a_full_build(published, tmp_path):
    paths = published
    previous, _, built = _served(paths)
    assert built == "full: nothing served yet"
    for step in (_add, _change, _remove, _remove_after_maintenance):
        write_run(paths, step(paths))
        version = _publish(paths, step.__name__)
        assert _served(paths) == (version, step.__name__, f"incremental from {previous}")
        _assert_equals_full_build(paths, version, tmp_path / step.__name__)
        previous = version


def _forget_a_file(paths: Paths) -> None:
    """Rows written straight into the lake (quicker than a run): one file's page, sightings and upvote
    history gone, and three of its papers with their topics and links."""
    source = "000_7cb6f7359ec6334f.txt"
    with lake.open_lake(paths) as con:
        papers = con.execute(
            f"SELECT DISTINCT paper_id FROM {M}.sightings WHERE source_file = $s ORDER BY 1 LIMIT 3",
            {"s": source},
        ).fetchall()
        con.execute("BEGIN")
        for table in ("pages", "sightings", "upvote_history"):
            con.execute(f"DELETE FROM {M}.{table} WHERE source_file = $s", {"s": source})
        for table in ("papers", "paper_topics", "paper_links"):
            con.execute(
                f"DELETE FROM {M}.{table} WHERE paper_id IN (SELECT unnest($p))",
                {"p": [p for (p,) in papers]},
            )
        con.execute("COMMIT")


KILL_AFTER_PAPERS = """
import os, signal, sys
from pathlib import Path
from paperlake import changes, steps
from paperlake.config import Paths

real = changes.apply
def apply_then_die(con, table, *args):
    done = real(con, table, *args)
    if table == "papers":  # half-way: papers applied to the copy, the index rebuilt, more tables to go
        os.kill(os.getpid(), signal.SIGKILL)
    return done
changes.apply = apply_then_die
steps.publish(Paths(Path(sys.argv[1]), Path(sys.argv[2])), "killed")
"""


@pytest.mark.subprocess
def test_a_killed_publish_leaves_the_previous_file(published, tmp_path):
    paths = published
    before, hits = _served(paths), _search(paths.duckdb_path, FIXED_QUERIES)
    _forget_a_file(paths)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_PAPERS, str(paths.raw_dir), str(paths.out_dir)], env=env
    )
    assert killed.returncode == -signal.SIGKILL
    assert list(paths.out_dir.glob(".paperlake.*.duckdb"))  # the half-done copy, never swapped in
    assert _served(paths) == before and _search(paths.duckdb_path, FIXED_QUERIES) == hits
    version = _publish(paths, "after the kill")
    assert _served(paths)[2] == f"incremental from {before[0]}"
    assert not list(paths.out_dir.glob(".paperlake.*.duckdb"))
    _assert_equals_full_build(paths, version, tmp_path / "full")


def test_full_build_when_the_change_feed_cannot_say(published, tmp_path):
    paths = published
    served = _served(paths)[0]
    _forget_a_file(paths)
    with lake.open_lake(paths) as con:  # what maintenance never does to the published snapshot
        con.execute(f"CALL ducklake_expire_snapshots('{lake.ALIAS}', versions => [{served}])")
    version = _publish(paths, "expired")
    assert _served(paths)[2] == f"full: snapshot {served} expired or a table's schema changed"
    with open_db(str(paths.duckdb_path)) as con:  # a file written by an earlier paperlake
        con.execute(f"ALTER TABLE {SERVING_VERSION} DROP COLUMN built")
    with lake.open_lake(paths) as con:
        con.execute(f"DELETE FROM {M}.pages WHERE source_file = '001_0e521db46ed8cd94.txt'")
    version = _publish(paths, "older layout")
    assert _served(paths)[2] == "full: the served file has an older layout"
    _assert_equals_full_build(paths, version, tmp_path / "full")


def test_a_run_that_changes_no_table_leaves_nothing_to_do(tmp_path, sample_copy):
    """A file touched (same bytes, another mtime) is parsed again, and nothing it writes changes a main
    table, so no version is published. The run after it has nothing to do: before, the staging commits of
    that run made every later run rebuild the warehouse (18.9 s instead of 3.9 s on the sample)."""
    from paperlake import plan, state

    paths = Paths(sample_copy, tmp_path / "out")
    write_run(paths)
    version, _ = steps.publish(paths, "first")
    assert state.up_to_date(paths, plan.make(paths, False).change) == version
    touched = sorted(sample_copy.iterdir())[0]
    os.utime(touched, (touched.stat().st_atime, touched.stat().st_mtime - 86_400))
    change = plan.make(paths, False).change
    assert not change.empty and state.up_to_date(paths, change) is None  # there is work: the file
    write_run(paths, [touched.name])
    assert steps.publish(paths, "second")[0] == version  # no table changed: no new version
    assert state.up_to_date(paths, plan.make(paths, False).change) == version
    with lake.open_lake(paths) as con:  # a later commit to a staging table is work again
        con.execute(f"DELETE FROM {lake.staging_table('files')} WHERE source_file = $f", {"f": touched.name})
    assert state.up_to_date(paths, plan.make(paths, False).change) is None


def test_the_serving_file_stays_near_a_fresh_builds_size_over_many_increments(published, tmp_path):
    """The same data removed and restored, run after run: an increment leaves deleted rows in their row
    groups (without COMPACT_AT: 4.5 -> 18 MB over 12 such runs on the sample); the file is built fresh once
    it holds COMPACT_AT (2) times a fresh build's blocks, so it never grows past about that."""
    paths = published
    files = sorted(paths.raw_dir.iterdir())
    sizes, builds = [], []
    for i in range(12):
        gone = files[i % len(files)]
        kept = gone.read_bytes()
        gone.unlink()
        write_run(paths, [])
        steps.publish(paths, f"removed {i}")
        gone.write_bytes(kept)
        write_run(paths, [gone.name])
        version = steps.publish(paths, f"restored {i}")[0]
        sizes.append(paths.duckdb_path.stat().st_size)
        builds.append(_served(paths)[2])
    fresh = _full_build(paths, version, tmp_path / "fresh").stat().st_size
    assert max(sizes) <= COMPACT_AT * fresh + (COMPACT_SLACK + 2) * 262_144, (sizes, fresh)
    assert any(b.startswith("incremental") for b in builds), builds  # still incremental in between
    _assert_equals_full_build(paths, version, tmp_path / "full")
