"""Resolution at its edges (issue 35).

* A landing folder where no file is a capture (or no file at all) builds an empty, valid version: every
  file a `rejects` row, no paper, the audit passing, a published version; a later capture then resolves
  incrementally to what a full build gives. Through the core steps and through a Dagster run.
* `upvote_history` pairs each count with a file that printed it: when two captures of one day print
  different counts, the day's maximum names the file printing it (the first such file by name), in the
  full build and incrementally (the one engine over two scopes), and both agree.
"""

import datetime as dt
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from paperlake import lake, landing, steps
from paperlake.audit import run_audit
from paperlake.config import Paths
from paperlake.frames import frame, to_arrow
from paperlake.ingest import read_raw
from paperlake.resolve import MatchRules, history
from paperlake.resolve.engine import resolve
from schemas import Sightings
from tests.helpers import SAMPLE, process_page, served_counts, write_run

NOT_CAPTURES = {
    "blob.bin": b"\x00\x01\x02\xff\xfe\x89PNG binary" + bytes(range(256)),
    "prose.txt": b"Just some prose about nothing in particular.\nA second line.\n",
    "empty.txt": b"",
}
TABLES_NOW = ("pages", "rejects", "sightings", "matches", "upvote_history", "papers")
SEED = "004_948de80309261307.txt"
UPVOTES = re.compile(r"^([A-Z][a-z]{2} \d{1,2}(?:, \d{4})?) 19$", re.MULTILINE)  # a date, then 19 upvotes


def _not_captures(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, data in NOT_CAPTURES.items():
        (raw / name).write_bytes(data)
    return raw


def _main_counts(paths: Paths) -> dict[str, int]:
    with lake.open_lake(paths, read_only=True) as con:
        return {t: con.sql(f"SELECT count(*) FROM {lake.main_table(t)}").fetchone()[0] for t in TABLES_NOW}


def _audit_fails(paths: Paths) -> list[str]:
    keys = list(landing.landing_files(paths.raw_dir))
    return [f.check for f in run_audit(paths, keys, 300, 1.0) if not f.holds and not f.warn_only]


def _main(paths: Paths, sql: str) -> list[tuple]:
    with lake.open_lake(paths, read_only=True) as con:
        return con.execute(sql.format(m=f"{lake.ALIAS}.main")).fetchall()


def _in_duckdb(sightings: pd.DataFrame):
    """Sightings as a DuckDB table, resolved in full by `paperlake.resolve.engine`; the connection stays
    open."""
    con = duckdb.connect()
    con.register("_rows", to_arrow(sightings, Sightings))
    con.execute("CREATE TABLE s AS SELECT * FROM _rows")
    return con, resolve(con, "s", MatchRules())


def test_the_full_resolution_of_no_sighting_is_empty_and_typed():
    """The SQL engine on zero sightings: no paper, no history, no sighting, each with the contract's
    types (no relation left untyped for a later COALESCE or join to trip on)."""
    con, res = _in_duckdb(frame([], Sightings))
    assert res.core.num_rows == 0 and res.registry.num_rows == 0
    assert str(res.core.schema.field("paper_id").type) == "string"
    for name in ("_history", "_out", "_matches_out"):
        assert con.sql(f"SELECT count(*) FROM {name}").fetchone() == (0,)
        types = dict(con.sql(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall())
        assert types.get("paper_id", types.get("paper_a")) == "VARCHAR", name


@pytest.mark.slow
def test_no_capture_in_the_landing_folder_builds_an_empty_version(tmp_path):
    """Only non-captures (binary, prose, an empty file): resolution, enrichment, audit and publishing work
    on zero sightings; every file is a rejects row; a capture added later resolves incrementally to what
    a full build of the same folder gives."""
    raw = _not_captures(tmp_path)
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    zero = dict.fromkeys(("sightings", "matches", "upvote_history", "papers"), 0)
    assert _main_counts(paths) == {"pages": 3, "rejects": 3, **zero}
    rejected = _main(paths, "SELECT source_file, status FROM {m}.pages ORDER BY 1")
    assert rejected == [(name, "rejected") for name in sorted(NOT_CAPTURES)]
    assert {r[0] for r in _main(paths, "SELECT source_file FROM {m}.rejects")} == set(NOT_CAPTURES)
    assert _audit_fails(paths) == []
    version, published = steps.publish(paths, "empty")
    assert (published["pages"], published["rejects"], published["papers"]) == (3, 3, 0)
    assert served_counts(paths)["papers"] == 0

    # the empty state resolves the next capture incrementally, equal to a full build
    shutil.copy(SAMPLE / SEED, raw / SEED)
    write_run(paths, [SEED])
    full = Paths(raw, tmp_path / "full")
    write_run(full)  # a first build: full
    for table in ("sightings", "upvote_history", "papers"):
        sql = f"SELECT * FROM {{m}}.{table} ORDER BY ALL"
        assert _main(paths, sql) == _main(full, sql), table
    assert _main_counts(paths)["papers"] > 0 and _audit_fails(paths) == []
    assert steps.publish(paths, "one capture")[0] > version


@pytest.mark.slow
def test_an_empty_landing_folder_builds_an_empty_version_in_the_core(tmp_path):
    """No file at all (the CLI refuses such a folder before it starts; the core steps do not crash)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    assert set(_main_counts(paths).values()) == {0}
    assert _audit_fails(paths) == []
    steps.publish(paths, "empty")
    assert set(served_counts(paths).values()) == {0}


@pytest.mark.dagster
def test_a_run_on_non_captures_publishes_an_empty_version(tmp_path):
    """The same folder through Dagster (`run_pipeline`, as `paperlake run` calls it): the run succeeds."""
    from pipelines.run import run_pipeline

    paths = Paths(_not_captures(tmp_path), tmp_path / "out")
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
    assert outcome.success, outcome
    counts = served_counts(paths)
    assert (counts["pages"], counts["rejects"], counts["sightings"], counts["papers"]) == (3, 3, 0, 0)


def _raised_copy(raw: Path) -> str:
    """A copy of SEED (same page date) named after it, one paper's 19 upvotes printed as 42."""
    text = (raw / SEED).read_text(encoding="utf-8")
    found = UPVOTES.search(text)
    assert found is not None
    copy = "zz_" + SEED
    (raw / copy).write_text(text[: found.start()] + f"{found.group(1)} 42" + text[found.end() :], "utf-8")
    return copy


def _unpaired(paths: Paths) -> list[tuple]:
    """upvote_history rows whose (source_file, upvotes) no sighting of that paper and day printed."""
    return _main(
        paths,
        """SELECT h.paper_id, h.page_date, h.upvotes, h.source_file FROM {m}.upvote_history h
           WHERE h.upvotes IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM {m}.sightings s WHERE s.paper_id = h.paper_id AND s.page_date = h.page_date
               AND s.source_file = h.source_file AND s.upvotes = h.upvotes)""",
    )


@pytest.mark.slow
def test_upvote_history_names_a_file_that_printed_the_count(tmp_path):
    """Two captures of one day print 19 and 42 for a paper: the row says 42 and the file that printed
    42 (every other count, printed by both, names the first file by name), in the full build and when
    the second capture arrives incrementally (equal tables)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(SAMPLE / SEED, raw / SEED)
    full, inc = Paths(raw, tmp_path / "full"), Paths(raw, tmp_path / "inc")
    write_run(inc)
    copy = _raised_copy(raw)
    write_run(inc, [copy])  # incremental: the copy's papers recomputed over their scope
    write_run(full)  # first build: every sighting in SQL
    for paths in (full, inc):
        assert _unpaired(paths) == [], paths
        raised = _main(paths, "SELECT source_file FROM {m}.upvote_history WHERE upvotes = 42")
        assert raised == [(copy,)], paths
        named = _main(paths, "SELECT source_file, count(*) FROM {m}.upvote_history GROUP BY 1 ORDER BY 1")
        assert [f for f, _ in named] == [SEED, copy] and named[1][1] == 1, paths
    sql = "SELECT * FROM {m}.upvote_history ORDER BY ALL"
    assert _main(full, sql) == _main(inc, sql)
    assert _audit_fails(inc) == []


def test_the_engine_pairs_each_count_with_a_file_that_printed_it(tmp_path):
    """SEED and a copy printing 42 where SEED printed 19: each (source_file, upvotes) of `_history` is a
    sighting's, and the 42 names the copy."""
    shutil.copy(SAMPLE / SEED, tmp_path / SEED)
    copy = _raised_copy(tmp_path)
    sightings = pd.concat(
        [process_page(read_raw(tmp_path / n, tmp_path)).sightings for n in (SEED, copy)], ignore_index=True
    )
    sightings = sightings.sort_values(["source_file", "position"], kind="stable").reset_index(drop=True)
    con, _ = _in_duckdb(sightings)
    sql = con.sql("SELECT * FROM _history ORDER BY paper_id, page_date").df()
    printed = sightings.merge(con.sql("SELECT sighting_id, paper_id FROM _out").df())
    pairs = set(zip(printed["paper_id"], printed["source_file"], printed["upvotes"], strict=True))
    counted = sql.dropna(subset="upvotes")
    assert set(zip(counted["paper_id"], counted["source_file"], counted["upvotes"], strict=True)) <= pairs
    assert sql.loc[sql["upvotes"] == 42, "source_file"].tolist() == [copy]


def test_upvote_history_and_growth_rule():
    """`paperlake.resolve.history` (a full build and an increment alike): the day's max with
    the first file by name printing it; a day without a count keeps its first file and a null; growth
    from the counted days."""
    day, other, later = dt.date(2025, 11, 13), dt.date(2025, 11, 14), dt.date(2025, 11, 17)
    s = pd.DataFrame(
        {
            "paper_id": ["p", "p", "p", "p", "p", "q", "q"],
            "page_date": [day, day, day, other, other, day, later],
            "upvotes": pd.array([19, 42, 42, None, None, 5, 11], dtype="Int64"),
            "source_file": ["a.txt", "b.txt", "c.txt", "a.txt", "b.txt", "a.txt", "z.txt"],
        }
    )
    with duckdb.connect() as con:
        con.register("s", pa.Table.from_pandas(s, preserve_index=False))
        history.history(con, "s")
        rows = con.execute("SELECT * FROM _history").to_arrow_table().to_pylist()
        growth = {r["paper_id"]: r["upvotes_growth_per_day"] for r in history.growth(con).to_pylist()}
    assert [(r["paper_id"], r["upvotes"], r["source_file"]) for r in rows] == [
        ("p", 42, "b.txt"),
        ("p", None, "a.txt"),
        ("q", 5, "a.txt"),
        ("q", 11, "z.txt"),
    ]
    assert growth["q"] == (11 - 5) / 4 and growth["p"] is None  # p has one counted day: no growth
