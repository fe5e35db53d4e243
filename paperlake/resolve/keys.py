"""Text keys and record ids: the same title printed with different case, dashes, quotes or spacing is one
key (`paperlake.normalize.text_keys`); equal title and abstract keys are one record.

Keys are computed once per distinct text (Arrow kernels), into the connection's `_tk` (title → title_key,
name) and `_ak` (abstract → abstract_key); the per-sighting columns are SQL joins on them.
"""

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from paperlake.duck import temp_table
from paperlake.match import short_names
from paperlake.normalize import text_keys


def sha(*parts: str, length: int) -> str:
    """SQL for `paperlake.normalize.short_hash` of SQL expressions."""
    return f"substr(sha256(concat_ws(chr(31), {', '.join(parts)})), 1, {length})"


HASH = "hash({})::UBIGINT"  # SQL: the 64-bit hash an abstract is joined by
KEY_BATCH = 16_384


def _day(date: str) -> str:
    return f"coalesce(strftime({date}, '%Y-%m-%d'), 'NaT')"


def bare_record_id(title_key: str, date: str) -> str:
    """SQL: the record id of a sighting without an abstract: its title key and published date."""
    return sha(title_key, "''", _day(date), length=16)


def bare_paper_id(title_key: str, date: str) -> str:
    """SQL: the own paper of sightings without an abstract that join no paper (title key and date)."""
    return "'p_' || " + sha(title_key, "''", _day(date), length=12)


def title_keys(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Add the titles of `relation` not yet in `_tk` with their key and short name."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _tk (title VARCHAR, title_key VARCHAR, name VARCHAR)")
    titles = (
        con.execute(f"SELECT DISTINCT title FROM {relation} WHERE title NOT IN (SELECT title FROM _tk)")
        .to_arrow_table()
        .column(0)
    )
    if len(titles):
        names = short_names(pd.Series(titles.to_pylist(), dtype=object))
        keys = {"title_key": text_keys(titles), "name": pa.array(names, pa.string())}
        temp_table(con, "_tk", pa.table({"title": titles, **keys}), append=True)


def keyed(con: duckdb.DuckDBPyConnection, sightings: str, into: str) -> None:
    """`into`: the sightings of `sightings` (with their abstracts) with title_key, name, `aid` (their
    abstract's row in `_ak`: aid, abstract_key), abstract_len, `bare` (no abstract) and record_id,
    without the abstract's text: a ~1 KB text or key is handled once per distinct abstract, never per
    sighting (a join or hash per sighting costs seconds at 600k)."""
    title_keys(con, sightings)
    # an abstract is found by its 64-bit hash, not its text; should two abstracts ever share a hash, the
    # text is the join key instead
    h = HASH.format("abstract")
    for by_text in (False, True):
        ak = con.execute(
            f"""SELECT {h} AS h, min(abstract) AS abstract, min(abstract) <> max(abstract) AS clash
            FROM {sightings} WHERE abstract IS NOT NULL GROUP BY {"abstract" if by_text else "h"}"""
        ).to_arrow_table()
        if by_text or not pc.any(ak.column("clash")).as_py():
            break
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ak (aid BIGINT, h UBIGINT, abstract VARCHAR, abstract_key VARCHAR)"
    )
    for start in range(0, len(ak), KEY_BATCH):  # batches: the Python copies of ~1 KB texts stay small
        part = ak.slice(start, KEY_BATCH)
        texts = part.column("abstract")
        rows = {
            "aid": pa.array(range(start, start + len(part)), pa.int64()),
            "h": part.column("h"),
            "abstract": texts if by_text else pa.nulls(len(part), pa.string()),
            "abstract_key": text_keys(texts),
        }
        temp_table(con, "_ak", pa.table(rows), append=True)
    on = (
        "a.abstract = s.abstract"
        if by_text
        else f"a.h = CASE WHEN s.abstract IS NOT NULL THEN {HASH.format('s.abstract')} END"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _k0 AS
        SELECT s.* EXCLUDE (abstract), s.abstract IS NULL AS bare, length(s.abstract) AS abstract_len,
               t.title_key, t.name, a.aid
        FROM {sightings} s JOIN _tk t USING (title) LEFT JOIN _ak a ON {on};
        CREATE OR REPLACE TEMP TABLE _rid AS
        SELECT k.title_key, k.aid, {sha("k.title_key", "a.abstract_key", length=16)} AS record_id
        FROM (SELECT DISTINCT title_key, aid FROM _k0 WHERE aid IS NOT NULL) k JOIN _ak a USING (aid);
        CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT k.*, CASE WHEN k.bare THEN {bare_record_id("k.title_key", "k.published_date")}
                         ELSE r.record_id END AS record_id
        FROM _k0 k LEFT JOIN _rid r USING (title_key, aid);
        DROP TABLE _k0; DROP TABLE _rid"""
    )
