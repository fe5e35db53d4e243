"""Text keys and record ids: the same title printed with different case, dashes, quotes or spacing is one
key (`paperlake.normalize.text_keys`); equal title and abstract keys are one record.

Keys are computed once per distinct text (Arrow kernels), into the connection's `_tk` (title → title_key,
name) and `_ak` (abstract → abstract_key); the per-sighting columns are SQL joins on them.
"""

import duckdb
import pandas as pd
import pyarrow as pa

from paperlake.match import short_names
from paperlake.normalize import text_keys


def sha(*parts: str, length: int) -> str:
    """SQL for `paperlake.normalize.short_hash` of SQL expressions."""
    return f"substr(sha256(concat_ws(chr(31), {', '.join(parts)})), 1, {length})"


def _day(date: str) -> str:
    return f"coalesce(strftime({date}, '%Y-%m-%d'), 'NaT')"


def bare_record_id(title_key: str, date: str) -> str:
    """SQL: the record id of a sighting without an abstract: its title key and published date."""
    return sha(title_key, "''", _day(date), length=16)


def bare_paper_id(title_key: str, date: str) -> str:
    """SQL: the own paper of sightings without an abstract that join no paper (title key and date)."""
    return "'p_' || " + sha(title_key, "''", _day(date), length=12)


def _add(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    con.register("_rows", rows)
    con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    con.unregister("_rows")


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
        _add(con, "_tk", pa.table({"title": titles, **keys}))


def keyed(con: duckdb.DuckDBPyConnection, sightings: str, into: str) -> None:
    """`into`: the sightings of `sightings` (with their abstracts) with title_key, name, abstract_key,
    abstract_len, `bare` (no abstract) and record_id, without the abstract's text."""
    title_keys(con, sightings)
    abstracts = con.execute(
        f"SELECT DISTINCT abstract FROM {sightings} WHERE abstract IS NOT NULL"
    ).to_arrow_table()
    con.execute("CREATE OR REPLACE TEMP TABLE _ak (abstract VARCHAR, abstract_key VARCHAR)")
    _add(con, "_ak", abstracts.append_column("abstract_key", text_keys(abstracts.column(0))))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT s.* EXCLUDE (abstract), s.abstract IS NULL AS bare, length(s.abstract) AS abstract_len,
               t.title_key, t.name, a.abstract_key,
               CASE WHEN s.abstract IS NULL THEN {bare_record_id("t.title_key", "s.published_date")}
                    ELSE {sha("t.title_key", "a.abstract_key", length=16)} END AS record_id
        FROM {sightings} s JOIN _tk t USING (title) LEFT JOIN _ak a USING (abstract)"""
    )
    con.execute("DROP TABLE _ak")
